/*
 * stub: the stand-in for every Kubernetes binary on a loopback-lab node.
 *
 * The lab copies this one binary to each component's real path inside the
 * node (/usr/local/bin/kube-apiserver, /usr/bin/kubelet, ...) and execs it
 * with the exact argv and environment kubeadm/systemd would use, so that
 * /proc/<pid>/{comm,cmdline,environ,exe} look like the real thing to a
 * scanner.  It waits; SIGTERM/SIGINT/SIGHUP end it.
 *
 * `<binary> --version` (what a scanner runs to learn the Kubernetes version,
 * as kube-bench does with `kubelet --version`) prints the text of the file
 * `<binary path>.version` beside it, e.g. "Kubernetes v1.30.2", and exits.
 *
 * `<binary> kubectl ...` (k3s's and rke2's embedded kubectl) is refused with exit status 1: the
 * stub is no API client, and waiting there would hang the scanner's cluster query.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void on_signal(int sig)
{
    (void)sig;
    _exit(0);
}

static int print_version(void)
{
    char path[4096];
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 16);
    int fd;

    if (n <= 0)
        return 1;
    memcpy(path + n, ".version", sizeof(".version"));
    fd = open(path, O_RDONLY);
    if (fd < 0)
        return 1;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write(1, buf, (size_t)n) != n)
            return 1;
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa = {0};

    if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0))
        return print_version();
    if (argc >= 2 && strcmp(argv[1], "kubectl") == 0) {
        static const char msg[] = "error: this lab stub has no embedded kubectl\n";
        return write(2, msg, sizeof(msg) - 1) < 0 ? 1 : 1;
    }
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    for (;;)
        pause();
}
