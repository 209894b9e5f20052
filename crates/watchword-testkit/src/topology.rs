//! The pieces of a production topology, started by a test on loopback from Debian's packages:
//! PostgreSQL clusters (a primary and a synchronous streaming standby made with
//! `pg_basebackup`), PgBouncer and HAProxy. Each is stopped when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Whether the tools are here; None (skip) outside CI when they are not, a panic in CI.
pub fn tools() -> Option<PathBuf> {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|dirs| {
            dirs.filter_map(|d| d.ok().map(|d| d.path().join("bin")))
                .filter(|b| b.join("initdb").exists())
                .max()
        });
    let missing: Vec<&str> = [
        ("initdb (postgresql-15)", bin.is_some()),
        ("pgbouncer", which("pgbouncer")),
        ("haproxy", which("haproxy")),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(name, _)| name)
    .collect();
    if missing.is_empty() {
        return bin;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI needs {missing:?} (scripts/test installs them)"
    );
    eprintln!("SKIPPED: {missing:?} not installed (scripts/test installs them)");
    None
}

fn which(name: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .any(|d| Path::new(d).join(name).exists())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// A command run as the `postgres` user when this process is root (PostgreSQL and PgBouncer
/// refuse to run as root); `setpriv` executes it in place, so the child is the program itself.
fn unprivileged(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A directory the unprivileged user owns.
pub fn owned_dir(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    if is_root() {
        run(Command::new("chown").arg("-R").arg("postgres:").arg(path));
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One PostgreSQL cluster (its own data directory and port).
pub struct Cluster {
    bin: PathBuf,
    pub data: PathBuf,
    pub port: u16,
    running: bool,
}

impl Cluster {
    fn ctl(&self, args: &[&str]) -> String {
        run(unprivileged(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(args))
    }

    fn start(&mut self) {
        let log = self.data.with_extension("log");
        self.ctl(&["-l", log.to_str().unwrap(), "-w", "-t", "60", "start"]);
        self.running = true;
    }

    /// A new primary that waits for a synchronous standby named `standby` before a commit
    /// returns (once one is attached).
    pub fn primary(bin: &Path, root: &Path) -> Self {
        let data = root.join("primary");
        run(unprivileged(&bin.join("initdb"))
            .args(["-U", "postgres", "--auth=trust", "-D"])
            .arg(&data));
        let port = free_port();
        append(
            &data.join("postgresql.conf"),
            &format!(
                "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
                 wal_level = replica\nmax_wal_senders = 5\nsynchronous_commit = on\n\
                 synchronous_standby_names = 'standby'\nmax_connections = 200\nfsync = off\n",
                root.display()
            ),
        );
        let mut c = Self {
            bin: bin.to_owned(),
            data,
            port,
            running: false,
        };
        c.start();
        c
    }

    /// A streaming standby of `primary` (`pg_basebackup -R`), attached synchronously.
    pub fn standby_of(primary: &Cluster, root: &Path) -> Self {
        let data = root.join("standby");
        run(unprivileged(&primary.bin.join("pg_basebackup"))
            .args(["-h", "127.0.0.1", "-U", "postgres", "-X", "stream", "-R"])
            .args(["-p", &primary.port.to_string(), "-D"])
            .arg(&data));
        let port = free_port();
        append(
            &data.join("postgresql.auto.conf"),
            &format!(
                "port = {port}\nprimary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name=standby'\n",
                primary.port
            ),
        );
        let mut c = Self {
            bin: primary.bin.clone(),
            data,
            port,
            running: false,
        };
        c.start();
        let deadline = Instant::now() + Duration::from_secs(30);
        while primary.sql("postgres", "SELECT sync_state FROM pg_stat_replication") != "sync" {
            assert!(
                Instant::now() < deadline,
                "the standby never became synchronous"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    /// One value from a query (psql, unaligned, tuples only).
    pub fn sql(&self, db: &str, query: &str) -> String {
        run(unprivileged(&self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
            ])
            .args(["-p", &self.port.to_string(), "-d", db, "-c", query]))
        .trim()
        .to_owned()
    }

    /// Stops at once, as a crash would (`pg_ctl stop -m immediate`).
    pub fn kill(&mut self) {
        self.ctl(&["-m", "immediate", "stop"]);
        self.running = false;
    }

    /// Ends recovery: the standby becomes a primary, one that no longer waits for a synchronous
    /// standby (it has none until another is attached; it would otherwise hold every commit).
    pub fn promote(&self) {
        self.ctl(&["-w", "promote"]);
        self.sql(
            "postgres",
            "ALTER SYSTEM SET synchronous_standby_names = ''",
        );
        self.sql("postgres", "SELECT pg_reload_conf()");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let _ = unprivileged(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn append(file: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// A child process killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} never listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// PgBouncer in session mode in front of one database on one server.
pub struct PgBouncer {
    ini: PathBuf,
    pub port: u16,
    db: String,
    daemon: Daemon,
}

impl PgBouncer {
    pub fn start(root: &Path, db: &str, server_port: u16) -> Self {
        let ini = root.join("pgbouncer.ini");
        std::fs::write(root.join("userlist.txt"), "\"postgres\" \"\"\n").unwrap();
        let port = free_port();
        let mut b = Self {
            ini,
            port,
            db: db.to_owned(),
            daemon: Daemon(Command::new("true").spawn().unwrap()),
        };
        b.write_ini(server_port);
        owned_dir(root);
        let child = unprivileged(Path::new("/usr/sbin/pgbouncer"))
            .arg(&b.ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        b.daemon = Daemon(child);
        wait_listening(port, "pgbouncer");
        b
    }

    fn write_ini(&self, server_port: u16) {
        let root = self.ini.parent().unwrap();
        std::fs::write(
            &self.ini,
            format!(
                "[databases]\n{db} = host=127.0.0.1 port={server_port} dbname={db}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {root}/userlist.txt\npool_mode = session\n\
                 max_client_conn = 400\ndefault_pool_size = 100\nserver_login_retry = 1\n\
                 server_connect_timeout = 2\nquery_wait_timeout = 5\n\
                 ignore_startup_parameters = extra_float_digits\nlogfile = {root}/pgbouncer.log\n",
                db = self.db,
                port = self.port,
                root = root.display()
            ),
        )
        .unwrap();
    }

    /// Points the pooler at another server and reloads it (SIGHUP), as an operator would.
    pub fn point_at(&self, server_port: u16) {
        self.write_ini(server_port);
        run(Command::new("kill")
            .arg("-HUP")
            .arg(self.daemon.0.id().to_string()));
    }
}

/// HAProxy: HTTP round robin over nodes checked by `/readyz`, and a TCP address for
/// PostgreSQL's primary that falls over to the standby (the floating address a listening
/// connection uses).
pub struct HaProxy {
    pub http_port: u16,
    pub pg_port: u16,
    _daemon: Daemon,
}

impl HaProxy {
    pub fn start(root: &Path, nodes: &[u16], primary: u16, standby: u16) -> Self {
        let (http_port, pg_port) = (free_port(), free_port());
        let servers: String = nodes
            .iter()
            .enumerate()
            .map(|(i, p)| format!("  server n{i} 127.0.0.1:{p} check inter 300ms fall 2 rise 2\n"))
            .collect();
        let cfg = root.join("haproxy.cfg");
        std::fs::write(
            &cfg,
            format!(
                "global\n  maxconn 2000\n\
                 defaults\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n\
                 frontend web\n  mode http\n  bind 127.0.0.1:{http_port}\n  default_backend nodes\n\
                 backend nodes\n  mode http\n  balance roundrobin\n  option httpchk GET /readyz\n\
                 http-check expect status 200\n  option redispatch\n  retries 2\n{servers}\
                 listen pg_primary\n  mode tcp\n  bind 127.0.0.1:{pg_port}\n  timeout client 1h\n\
                 timeout server 1h\n\
                 server primary 127.0.0.1:{primary} check inter 300ms fall 2 rise 2 \
                 on-marked-down shutdown-sessions\n\
                 server standby 127.0.0.1:{standby} check inter 300ms backup\n"
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/haproxy")
            .args(["-db", "-f"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Daemon(child);
        wait_listening(http_port, "haproxy");
        Self {
            http_port,
            pg_port,
            _daemon: daemon,
        }
    }
}
