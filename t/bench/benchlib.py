"""Shared pieces of the t/bench scripts (syscalls, slow_downloads, throughput, reloads, table):
starting ./sluice and nginx from generated configurations on loopback, stopping them by pid,
/proc readings, the tool check, running wrk and reading its output, the --json output, a
throwaway certificate for the TLS runs.
(mem_idle predates this module and keeps its own copies.)

Every server started here is recorded in SERVERS until stopped, so stop_all() in a finally:
block reaches each one; nothing is ever stopped by name.
"""

import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

SERVERS = []   # started and not yet stopped, for the exit guard
HELPERS = []   # other processes we started (clients, strace, perf), likewise
PAGE = os.sysconf("SC_PAGE_SIZE")


class RunFailed(Exception):
    pass


def log(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------
# /proc readings

def smaps(pid):
    """The smaps_rollup counters of pid, in KiB."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def anon_kib(m):
    return m.get("Pss_Anon", m.get("Anonymous", 0)) + m.get("Pss_Shmem", 0)


def children(ppid):
    """Pids whose parent is ppid."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == ppid:
            found.append(int(name))
    return sorted(found)


def cpu_ticks(pid):
    """utime + stime of pid in clock ticks, or 0 once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return 0
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def sockets(pid):
    n = 0
    fd_dir = "/proc/%d/fd" % pid
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return 0
    for name in names:
        try:
            if os.readlink(os.path.join(fd_dir, name)).startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def tcp_mem_pages():
    """The kernel's TCP buffer memory (all sockets of the machine), in pages: sockstat `mem`."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                parts = line.split()
                return int(parts[parts.index("mem") + 1])
    return 0


def cpu_busy_ticks():
    """Busy clock ticks of the whole machine since boot (/proc/stat's first line: all but idle
    and iowait), all CPUs together."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)


def wait_quiet(max_wait_s, busy_pct=25.0):
    """Wait (at most max_wait_s) for a second in which the machine is less than busy_pct %
    of one core busy: another build or test run would skew what we measure. Returns the busy
    percentage of the last second."""
    tck = os.sysconf("SC_CLK_TCK")
    end = time.monotonic() + max_wait_s
    while True:
        t0, b0 = time.monotonic(), cpu_busy_ticks()
        time.sleep(1.0)
        pct = 100.0 * (cpu_busy_ticks() - b0) / tck / (time.monotonic() - t0)
        if pct < busy_pct or time.monotonic() >= end:
            return pct


class Memory:
    """Master plus workers at one moment: Pss_Anon+Pss_Shmem and RSS, KiB."""

    def __init__(self, server):
        pids = [server.pid] + server.workers
        rollups = []
        for pid in pids:
            try:
                rollups.append(smaps(pid))
            except OSError:
                rollups.append({})
        self.anon = sum(anon_kib(m) for m in rollups)
        self.rss = sum(m.get("Rss", 0) for m in rollups)
        self.per_process = [(pid, anon_kib(m), m.get("Rss", 0)) for pid, m in zip(pids, rollups)]
        self.tcp_pages = tcp_mem_pages()


# ---------------------------------------------------------------------------------------------
# tools

def ensure_tool(prog, package, name):
    """Return the path of prog; install the Debian package when missing and we are root.
    Not root: print the command and exit 2."""
    path = shutil.which(prog) or shutil.which(prog, path="/usr/sbin:/sbin")
    if path:
        return path
    cmd = ["apt-get", "install", "-y", package]
    if os.geteuid() != 0:
        print("%s: %s not found; install it with:\n    %s" % (name, prog, " ".join(cmd)),
              file=sys.stderr)
        sys.exit(2)
    log("%s: %s not found, running: %s" % (name, prog, " ".join(cmd)))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.call(cmd, env=env, stdout=subprocess.DEVNULL) != 0:
        # a stale package list is the usual reason
        subprocess.call(["apt-get", "update"], env=env, stdout=subprocess.DEVNULL)
        if subprocess.call(cmd, env=env, stdout=subprocess.DEVNULL) != 0:
            print("%s: %s failed" % (name, " ".join(cmd)), file=sys.stderr)
            sys.exit(2)
    if prog == "nginx":
        log("%s: note: on a host with an init system the package may have started the "
            "distribution's nginx service; this benchmark neither uses nor stops it" % name)
    path = shutil.which(prog) or shutil.which(prog, path="/usr/sbin:/sbin")
    if not path:
        print("%s: %s still not found after installing %s" % (name, prog, package),
              file=sys.stderr)
        sys.exit(2)
    return path


def optional_tool(prog, package, name):
    """Like ensure_tool, but a tool that cannot be had is None (with a line saying why) rather
    than the end of the run: the callers skip what needs it."""
    path = shutil.which(prog)
    if path:
        return path
    if os.geteuid() != 0:
        log("%s: %s not found (apt-get install -y %s); skipped" % (name, prog, package))
        return None
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", package]
    log("%s: %s not found, running: %s" % (name, prog, " ".join(cmd)))
    if subprocess.call(cmd, env=env, stdout=subprocess.DEVNULL) != 0:
        subprocess.call(["apt-get", "update"], env=env, stdout=subprocess.DEVNULL)
        subprocess.call(cmd, env=env, stdout=subprocess.DEVNULL)
    path = shutil.which(prog)
    if not path:
        log("%s: %s could not be installed (apt-get install -y %s failed); skipped"
            % (name, prog, package))
    return path


def write_json(path, data):
    """The machine-readable result of a script (--json FILE), written through a temp name."""
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.rename(tmp, path)


def median(values):
    v = sorted(values)
    n = len(v)
    if n == 0:
        return None
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


# ---------------------------------------------------------------------------------------------
# wrk

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def parse_wrk(text):
    """wrk --latency output -> dict: requests, seconds, rps, p50_ms, p99_ms, the socket errors
    (connect, read, write, timeout) and non2xx (wrk counts answers outside 2xx/3xx)."""
    out = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "non2xx": 0}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m or not rps:
        return None
    out["requests"] = int(m.group(1))
    out["seconds"] = _ms(m.group(2) + m.group(3)) / 1000.0
    out["rps"] = float(rps.group(1))
    for pct in ("50", "99"):
        p = re.search(r"^\s+%s%%\s+(\S+)" % pct, text, re.M)
        out["p%s_ms" % pct] = _ms(p.group(1)) if p else None
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if e:
        for i, k in enumerate(("connect", "read", "write", "timeout")):
            out[k] = int(e.group(i + 1))
    n = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if n:
        out["non2xx"] = int(n.group(1))
    out["errors"] = out["connect"] + out["read"] + out["write"] + out["timeout"]
    return out


def wrk_start(wrk, url, conns, threads, seconds, timeout_s=5):
    """Start wrk --latency in the background (recorded in HELPERS); read it with wrk_finish."""
    proc = subprocess.Popen([wrk, "--latency", "-t", str(min(threads, conns)), "-c", str(conns),
                             "-d", "%ds" % seconds, "--timeout", "%ds" % timeout_s, url],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    HELPERS.append(proc)
    proc.bench_limit = seconds + timeout_s + 30
    return proc


def wrk_finish(proc, what):
    try:
        text, _ = proc.communicate(timeout=proc.bench_limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RunFailed("wrk (%s) did not finish in time" % what)
    HELPERS.remove(proc)
    got = parse_wrk(text)
    if proc.returncode != 0 or got is None:
        raise RunFailed("wrk (%s) failed (status %s):\n%s" % (what, proc.returncode, text))
    return got


def wrk_run(wrk, url, conns, threads, seconds, what):
    return wrk_finish(wrk_start(wrk, url, conns, threads, seconds), what)


def raise_nofile():
    """Raise the soft RLIMIT_NOFILE to the hard one (children inherit it); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def build_c(src, binary, extra=(), more=()):
    """Compile src (and the C files in more; headers listed there only count for staleness)
    into binary with cc -O2 when it is missing or older than any of them."""
    files = [src] + list(more)
    if os.path.exists(binary) and all(os.path.getmtime(binary) >= os.path.getmtime(f)
                                      for f in files):
        return
    os.makedirs(os.path.dirname(binary), exist_ok=True)
    cc = os.environ.get("CC", "cc")
    # The clients use the program's one clock helper (common/clock.c).
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(src))))
    cmd = [cc, "-O2", "-Wall", "-Wextra", "-I", repo, "-o", binary, src] + \
        [f for f in more if f.endswith(".c")] + \
        [os.path.join(repo, "common", "clock.c")] + list(extra)
    if subprocess.call(cmd) != 0:
        raise RunFailed("compiling failed: %s" % " ".join(cmd))


def make_cert(openssl, dirpath):
    """A throwaway self-signed ECDSA P-256 certificate and its key (cheap signatures: the TLS
    runs make thousands of handshakes) for CN localhost and 127.0.0.1, written into dirpath by
    the openssl command; returns (certificate path, key path). Valid 30 days: sluice warns at
    start about a certificate that expires within 14."""
    cert, key = os.path.join(dirpath, "cert.pem"), os.path.join(dirpath, "key.pem")
    cmd = [openssl, "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "30",
           "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        raise RunFailed("%s failed:\n%s" % (" ".join(cmd), r.stderr))
    return cert, key


def free_port():
    """A loopback port that was free a moment ago (for nginx, which has no port file)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_get(port, path, method="GET", timeout=5.0, tls=False):
    """One request on a fresh connection (over TLS, certificate unchecked, with tls); returns
    (status, body length)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)  # takes the socket over
        s.sendall(("%s %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
                   % (method, path)).encode())
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ssl.SSLEOFError:  # closed without close_notify: the end all the same
                chunk = b""
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, len(body)


# ---------------------------------------------------------------------------------------------
# servers

class Server:
    """Common part: a process we started, its workers (children), its logs."""

    kind = "server"

    def __init__(self, name, dirpath, nworkers):
        self.name, self.dir, self.nworkers = name, dirpath, nworkers
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.pid = None
        self.workers = []
        self.port = None
        self.error_log = os.path.join(self.dir, "error.log")

    def _spawn(self, argv):
        out = open(os.path.join(self.dir, "stderr"), "wb")
        self.proc = subprocess.Popen(argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=out)
        out.close()
        self.pid = self.proc.pid
        SERVERS.append(self)

    def _wait_workers(self, end):
        while True:
            self.workers = children(self.pid)
            if len(self.workers) == self.nworkers:
                return
            if self.proc.poll() is not None:
                raise RunFailed("%s exited with status %s at start-up:\n%s"
                                % (self.name, self.proc.returncode, self.tail()))
            if time.monotonic() > end:
                raise RunFailed("%s: %d workers found, %d expected"
                                % (self.name, len(self.workers), self.nworkers))
            time.sleep(0.02)

    def stop(self, wait_s=10.0):
        """TERM the process we started, by pid; KILL it and its recorded workers after wait_s."""
        if self.proc is None or self.proc.poll() is not None:
            if self in SERVERS:
                SERVERS.remove(self)
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            for pid in self.workers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        SERVERS.remove(self)

    def tail(self, lines=20):
        text = []
        for path in (os.path.join(self.dir, "stderr"), self.error_log):
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += f.read().splitlines()
        return "\n".join(text[-lines:])

    def log_lines(self, words):
        if not os.path.exists(self.error_log):
            return []
        with open(self.error_log, errors="replace") as f:
            return [l.rstrip() for l in f if any(w in l for w in words)]


class Sluice(Server):
    kind = "sluice"
    BAD = ("[crit]", "[alert]", "Sanitizer", "runtime error")
    NOTABLE = ("[warn]", "[error]")

    def __init__(self, binary, name, dirpath, root, nworkers, keys, prefix=(),
                 listen="127.0.0.1:0"):
        """listen: the one listen line, flags included ("127.0.0.1:0 tls")."""
        super().__init__(name, dirpath, nworkers)
        self.binary, self.prefix = binary, list(prefix)
        self.port_file = os.path.join(self.dir, "sluice.port")
        self.pid_file = os.path.join(self.dir, "sluice.pid")
        self.config = os.path.join(self.dir, "sluice.ini")
        lines = [("listen", listen), ("workers", str(nworkers)), ("root", root),
                 ("pid_file", self.pid_file), ("port_file", self.port_file),
                 ("error_log", self.error_log), ("log_level", "notice")] + list(keys)
        with open(self.config, "w") as f:
            for k, v in lines:
                f.write("%s = %s\n" % (k, v))

    def start(self, wait_s=10.0):
        self._spawn(self.prefix + [self.binary, "-c", self.config])
        end = time.monotonic() + wait_s
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RunFailed("%s: sluice exited with status %s at start-up:\n%s"
                                % (self.name, self.proc.returncode, self.tail()))
            if time.monotonic() > end:
                raise RunFailed("%s: no port file after %.0f s:\n%s"
                                % (self.name, wait_s, self.tail()))
            time.sleep(0.02)
        with open(self.port_file) as f:
            # "ADDRESS[ FLAGS]": the flags, if any, follow the address after a space
            self.port = int(f.readline().split()[0].rsplit(":", 1)[1])
        with open(self.pid_file) as f:
            named = int(f.read().split()[0])
        if named != self.pid:
            raise RunFailed("%s: pid file names %d, but sluice was started as %d"
                            % (self.name, named, self.pid))
        self._wait_workers(end)
        return self

    def bad_lines(self):
        return self.log_lines(self.BAD)

    def notable_lines(self):
        return self.log_lines(self.NOTABLE)


class Nginx(Server):
    """nginx from a generated configuration in its own directory, `daemon off`, so the
    process we start is the master (or, with master_process off, the only process)."""

    kind = "nginx"
    BAD = ("[crit]", "[alert]", "[emerg]")
    NOTABLE = ("[warn]", "[error]")

    def __init__(self, binary, name, dirpath, root, nworkers, main_extra="", events_extra="",
                 http_extra="", listen_extra="", prefix=()):
        super().__init__(name, dirpath, nworkers)
        self.binary, self.prefix = binary, list(prefix)
        self.root, self.main_extra, self.events_extra = root, main_extra, events_extra
        self.http_extra, self.listen_extra = http_extra, listen_extra
        self.config = os.path.join(self.dir, "nginx.conf")
        self.pid_file = os.path.join(self.dir, "nginx.pid")

    def _write_config(self):
        d = self.dir
        master = "on" if self.nworkers > 0 else "off"
        text = """# generated by t/bench (benchlib.py)
daemon off;
master_process %(master)s;
worker_processes %(workers)d;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log notice;
%(main_extra)s
events {
    %(events_extra)s
}
http {
    access_log off;
    default_type application/octet-stream;
    types { text/plain txt; text/html html; }
    client_body_temp_path %(d)s/client_body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    %(http_extra)s
    server {
        listen 127.0.0.1:%(port)d %(listen_extra)s;
        root %(root)s;
    }
}
""" % dict(d=d, master=master, workers=max(1, self.nworkers), main_extra=self.main_extra,
           events_extra=self.events_extra, http_extra=self.http_extra, port=self.port,
           listen_extra=self.listen_extra, root=self.root)
        with open(self.config, "w") as f:
            f.write(text)

    def start(self, wait_s=10.0):
        for attempt in range(3):
            self.port = free_port()
            self._write_config()
            self._spawn(self.prefix + [self.binary, "-p", self.dir, "-c", self.config,
                                       "-e", self.error_log])
            try:
                return self._wait_ready(time.monotonic() + wait_s)
            except RunFailed:
                if (self.proc.poll() is not None and attempt < 2
                        and "Address already in use" in self.tail()):
                    SERVERS.remove(self)  # lost the port to someone else: try another
                    continue
                raise
        return self

    def _wait_ready(self, end):
        while True:
            if self.proc.poll() is not None:
                raise RunFailed("%s: nginx exited with status %s at start-up:\n%s"
                                % (self.name, self.proc.returncode, self.tail()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                pass
            if time.monotonic() > end:
                raise RunFailed("%s: not accepting on port %d:\n%s"
                                % (self.name, self.port, self.tail()))
            time.sleep(0.05)
        if self.nworkers > 0:
            self._wait_workers(end)
        return self

    def bad_lines(self):
        return self.log_lines(self.BAD)

    def notable_lines(self):
        return self.log_lines(self.NOTABLE)


def stop_all(name):
    for p in HELPERS:
        if p.poll() is None:
            p.kill()
            p.wait()
    for s in list(SERVERS):
        try:
            s.stop()
        except Exception as e:  # the guard must reach every server
            print("%s: stopping %s: %s" % (name, s.name, e), file=sys.stderr)
