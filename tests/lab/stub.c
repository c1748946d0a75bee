/*
 * stub: the stand-in for every Kubernetes binary on a loopback-lab node.
 *
 * The lab copies this one binary to each component's real path inside the
 * node (/usr/local/bin/kube-apiserver, /usr/bin/kubelet, ...) and execs it
 * with the exact argv and environment kubeadm/systemd would use, so that
 * /proc/<pid>/{comm,cmdline,environ,exe} look like the real thing to a
 * scanner.  It does nothing but wait; SIGTERM/SIGINT/SIGHUP end it.
 */
#include <signal.h>
#include <unistd.h>

static void on_signal(int sig)
{
    (void)sig;
    _exit(0);
}

int main(void)
{
    struct sigaction sa = {0};

    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    for (;;)
        pause();
}
