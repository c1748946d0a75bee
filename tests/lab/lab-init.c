/*
 * lab-init: PID 1 of one loopback-lab node (driven by tests/lab/lab.py).
 *
 * The lab starts it as
 *
 *     unshare --mount --pid --uts --fork --kill-child --propagation private \
 *         <state>/bin/lab-init <state>/nodes/<name>
 *
 * so it runs as PID 1 of a fresh PID namespace, in a private mount and UTS
 * namespace.  It then
 *
 *   1. records its host PID in NODEDIR/init.pid (read through the host's
 *      /proc, which is still mounted at that point),
 *   2. builds the node's root in NODEDIR/merged: an overlayfs with the
 *      host's / as lower layer and NODEDIR/upper as upper layer, a fresh
 *      /proc (shows only this node's processes), the host's /dev bound in,
 *      fresh tmpfs on /tmp and /run (with /run/sshd for sshd's privsep),
 *      and an empty read-only tmpfs over each "hide" path (the lab state
 *      directory, when it is visible through the lower layer),
 *   3. sets the hostname, pivots into the new root (the host's root is
 *      detached, not just chrooted away from),
 *   4. execs every "proc" from NODEDIR/boot with its exact argv and
 *      environment, then sshd with stdout/stderr on NODEDIR/sshd.log,
 *   5. reaps children forever and obeys these signals:
 *        SIGUSR1         stop sshd (the listener only; sessions survive)
 *        SIGUSR2         (re)start sshd, e.g. after a host key rotation
 *        SIGTERM/SIGINT  end the node: TERM everything, reap for up to 1 s,
 *                        exit; the kernel kills whatever is left because
 *                        PID 1 of the namespace is gone.
 *
 * NODEDIR/boot is a stream of NUL-terminated tokens:
 *
 *     hostname NAME
 *     hide PATH                                        (zero or more)
 *     proc EXE ARGC ARGV... ENVC ENV...                (zero or more)
 *     sshd EXE ARGC ARGV... ENVC ENV...                (exactly one)
 *
 * Messages go to stderr, which the lab points at NODEDIR/init.log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define MAX_ITEMS 256

struct cmd {
    const char *exe;
    char **argv;
    char **envp;
};

static const char *node_name = "?";
static struct cmd procs[MAX_ITEMS];
static pid_t proc_pids[MAX_ITEMS];
static int nprocs;
static struct cmd sshd;
static const char *hides[MAX_ITEMS];
static int nhides;
static pid_t sshd_pid;
static int sshd_log = -1;

static void msg(const char *fmt, ...)
{
    int saved = errno; /* for %m in fmt */
    va_list ap;

    fprintf(stderr, "lab-init[%s]: ", node_name);
    errno = saved;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

#define die(...) do { msg(__VA_ARGS__); exit(1); } while (0)

static char *path_in(const char *base, const char *rel)
{
    char *p;

    if (asprintf(&p, "%s%s%s", base, rel[0] == '/' ? "" : "/", rel) < 0)
        die("out of memory");
    return p;
}

/* ---- the boot file ---------------------------------------------------- */

static char *boot_cur, *boot_end;

static char *next_token(void)
{
    char *tok = boot_cur;
    char *nul;

    if (boot_cur >= boot_end)
        die("boot file truncated");
    nul = memchr(boot_cur, '\0', (size_t)(boot_end - boot_cur));
    if (!nul)
        die("boot file: unterminated token");
    boot_cur = nul + 1;
    return tok;
}

static char **next_vector(void)
{
    long n = strtol(next_token(), NULL, 10);
    char **v;

    if (n < 0 || n > 4096)
        die("boot file: bad vector length %ld", n);
    v = calloc((size_t)n + 1, sizeof *v);
    if (!v)
        die("out of memory");
    for (long i = 0; i < n; i++)
        v[i] = next_token();
    return v;
}

static void next_cmd(struct cmd *c)
{
    c->exe = next_token();
    c->argv = next_vector();
    c->envp = next_vector();
}

static void read_boot(const char *nodedir)
{
    char *path = path_in(nodedir, "boot");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf;
    size_t off = 0;
    int have_sshd = 0;

    if (fd < 0 || fstat(fd, &st) < 0)
        die("open %s: %m", path);
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        die("out of memory");
    while (off < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
        if (n <= 0)
            die("read %s: %m", path);
        off += (size_t)n;
    }
    close(fd);
    boot_cur = buf;
    boot_end = buf + off;

    while (boot_cur < boot_end) {
        const char *key = next_token();

        if (!strcmp(key, "hostname")) {
            node_name = next_token();
        } else if (!strcmp(key, "hide")) {
            if (nhides == MAX_ITEMS)
                die("too many hide entries");
            hides[nhides++] = next_token();
        } else if (!strcmp(key, "proc")) {
            if (nprocs == MAX_ITEMS)
                die("too many processes");
            next_cmd(&procs[nprocs++]);
        } else if (!strcmp(key, "sshd")) {
            next_cmd(&sshd);
            have_sshd = 1;
        } else {
            die("boot file: unknown key %s", key);
        }
    }
    if (!have_sshd)
        die("boot file: no sshd entry");
    free(path);
}

/* ---- building the root ------------------------------------------------ */

static void write_host_pid(const char *nodedir)
{
    char pid[32], *tmp = path_in(nodedir, "init.pid.tmp"), *dst = path_in(nodedir, "init.pid");
    ssize_t n = readlink("/proc/self", pid, sizeof pid - 1);
    FILE *f;

    if (n <= 0)
        die("readlink /proc/self: %m");
    pid[n] = '\0';
    f = fopen(tmp, "we");
    if (!f || fprintf(f, "%s\n", pid) < 0 || fclose(f) != 0 || rename(tmp, dst) < 0)
        die("write %s: %m", dst);
    free(tmp);
    free(dst);
}

static void do_mount(const char *src, const char *dst, const char *type,
                     unsigned long flags, const char *data)
{
    if (mount(src, dst, type, flags, data) < 0)
        die("mount %s on %s (%s): %m", src, dst, type ? type : "bind");
}

static void make_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) < 0 || chmod(path, mode) < 0)
        die("mkdir %s: %m", path);
}

static void build_root(const char *nodedir, const char *merged)
{
    char *opts, *p;
    struct stat st;

    do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    if (asprintf(&opts, "lowerdir=/,upperdir=%s/upper,workdir=%s/work", nodedir, nodedir) < 0)
        die("out of memory");
    do_mount("overlay", merged, "overlay", 0, opts);
    free(opts);

    p = path_in(merged, "/proc");
    do_mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    free(p);
    p = path_in(merged, "/dev");
    do_mount("/dev", p, NULL, MS_BIND | MS_REC, NULL);
    free(p);
    p = path_in(merged, "/tmp");
    do_mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    free(p);
    p = path_in(merged, "/run");
    do_mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755");
    free(p);
    p = path_in(merged, "/run/sshd");
    make_dir(p, 0755);
    free(p);
    p = path_in(merged, "/run/lock");
    make_dir(p, 01777);
    free(p);

    for (int i = 0; i < nhides; i++) {
        p = path_in(merged, hides[i]);
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            do_mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                     "mode=755,size=4k");
        free(p);
    }
}

static void enter_root(const char *merged)
{
    if (chdir(merged) < 0)
        die("chdir %s: %m", merged);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        die("pivot_root %s: %m", merged);
    if (umount2(".", MNT_DETACH) < 0)
        die("detach old root: %m");
    if (chdir("/") < 0)
        die("chdir /: %m");
}

/* ---- processes -------------------------------------------------------- */

/* Fork and exec c; stdout/stderr go to out_fd (-1: /dev/null). */
static pid_t spawn(const struct cmd *c, int out_fd)
{
    pid_t pid = fork();

    if (pid < 0) {
        msg("fork for %s: %m", c->exe);
        return 0;
    }
    if (pid == 0) {
        sigset_t none;
        int err = fcntl(2, F_DUPFD_CLOEXEC, 3);
        int null = open("/dev/null", O_RDWR);

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(null, 0);
        dup2(out_fd >= 0 ? out_fd : null, 1);
        dup2(out_fd >= 0 ? out_fd : null, 2);
        syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
        execve(c->exe, c->argv, c->envp);
        dprintf(err, "lab-init[%s]: exec %s: %s\n", node_name, c->exe, strerror(errno));
        _exit(127);
    }
    return pid;
}

static void note_exit(pid_t pid, int status)
{
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

    if (pid == sshd_pid) {
        dprintf(sshd_log, "lab-init: sshd (pid %d) exited with status %d\n", pid, code);
        msg("sshd (pid %d) exited with status %d", pid, code);
        sshd_pid = 0;
        return;
    }
    for (int i = 0; i < nprocs; i++) {
        if (pid == proc_pids[i]) {
            msg("%s (pid %d) exited with status %d", procs[i].exe, pid, code);
            proc_pids[i] = 0;
            return;
        }
    }
    /* anything else is an orphan reparented to us (e.g. sshd's session helpers) */
}

static void reap(void)
{
    pid_t pid;
    int status;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        note_exit(pid, status);
}

static void stop_sshd(void)
{
    if (sshd_pid > 0)
        kill(sshd_pid, SIGTERM);
}

static void restart_sshd(void)
{
    int status;

    if (sshd_pid > 0) {
        pid_t pid = sshd_pid;

        kill(pid, SIGTERM);
        if (waitpid(pid, &status, 0) == pid)
            note_exit(pid, status);
    }
    sshd_pid = spawn(&sshd, sshd_log);
    msg("sshd started as pid %d", sshd_pid);
}

static void shutdown_node(void)
{
    const struct timespec tick = {0, 10 * 1000 * 1000};

    msg("shutting down");
    kill(-1, SIGTERM);
    for (int i = 0; i < 100; i++) {
        reap();
        if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
            break;
        nanosleep(&tick, NULL);
    }
    exit(0);
}

static void on_signal(int sig)
{
    (void)sig; /* never runs: the signals are blocked and taken by sigwaitinfo */
}

int main(int argc, char **argv)
{
    const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGUSR1, SIGUSR2};
    struct sigaction sa = {0};
    sigset_t set;
    char *nodedir, *merged, *log_path;

    if (argc != 2) {
        fprintf(stderr, "usage: lab-init NODEDIR\n");
        return 2;
    }
    nodedir = argv[1];
    umask(022);
    read_boot(nodedir);
    if (getpid() != 1)
        die("must run as PID 1 of a new PID namespace (see unshare --pid --fork)");
    write_host_pid(nodedir);

    merged = path_in(nodedir, "merged");
    log_path = path_in(nodedir, "sshd.log");
    sshd_log = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (sshd_log < 0)
        die("open %s: %m", log_path);
    build_root(nodedir, merged);
    if (sethostname(node_name, strlen(node_name)) < 0)
        die("sethostname: %m");
    enter_root(merged);

    /* PID 1 only receives signals it has handlers for: install no-op ones,
     * keep the signals blocked and take them synchronously. */
    sigemptyset(&set);
    sa.sa_handler = on_signal;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        sigaddset(&set, sigs[i]);
        sigaction(sigs[i], &sa, NULL);
    }
    sigprocmask(SIG_BLOCK, &set, NULL);

    for (int i = 0; i < nprocs; i++)
        proc_pids[i] = spawn(&procs[i], -1);
    restart_sshd();
    msg("node up: %d processes and sshd", nprocs);

    for (;;) {
        int sig = sigwaitinfo(&set, NULL);

        switch (sig) {
        case SIGCHLD:
            reap();
            break;
        case SIGUSR1:
            stop_sshd();
            break;
        case SIGUSR2:
            restart_sshd();
            break;
        case SIGTERM:
        case SIGINT:
            shutdown_node();
            break;
        default: /* EINTR */
            break;
        }
    }
}
