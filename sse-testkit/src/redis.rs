//! A real `redis-server` for tests, started on a free loopback port and killed by its
//! PID; and a real Redis Cluster of such servers.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A `redis-server` on a free loopback port, killed by its PID when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
}

impl RedisServer {
    /// Starts a server without persistence and waits until it answers `PING`.
    ///
    /// Panics (failing the test) when `redis-server` is not installed: these tests
    /// must not pass without Redis. `scripts/test.sh` installs Debian's package.
    pub fn start() -> Self {
        Self::start_with(|_| Vec::new())
    }

    /// As [`start`](Self::start), with further arguments for `redis-server`, made
    /// from its port.
    pub fn start_with(args: impl FnOnce(u16) -> Vec<String>) -> Self {
        let port = free_port();
        let _ = std::fs::remove_file(std::env::temp_dir().join(format!("sse-test-{port}.rdb")));
        let args = args(port);
        let mut server = RedisServer {
            child: None,
            port,
            args,
        };
        server.spawn();
        server
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", &std::env::temp_dir().display().to_string()])
            // Its own file: a replica writes what it syncs, which the next server
            // started in the directory would otherwise load.
            .args(["--dbfilename", &format!("sse-test-{}.rdb", self.port)])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => panic!(
                "cannot start redis-server ({e}): these tests need a real Redis; \
                 install Debian's `redis-server` package (scripts/test.sh does so as root)"
            ),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ping(self.port) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("redis-server on port {} exited: {status}", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL, by PID): clients see connections reset.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let dir = std::env::temp_dir();
        let _ = std::fs::remove_file(dir.join(format!("sse-test-{}.rdb", self.port)));
        let _ = std::fs::remove_file(dir.join(format!("sse-cluster-{}.conf", self.port)));
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
}

/// A Redis Cluster on loopback: `redis-server`s in cluster mode joined by
/// `redis-cli --cluster create`, each killed by its PID when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `masters` primaries with `replicas` replicas each (a node is judged
    /// failed after 1 s), and waits until every slot is served and every replica
    /// is in sync.
    pub fn start(masters: usize, replicas: usize) -> Self {
        let dir = std::env::temp_dir();
        let nodes: Vec<RedisServer> = (0..masters * (1 + replicas))
            .map(|_| {
                RedisServer::start_with(|port| {
                    let config = dir.join(format!("sse-cluster-{port}.conf"));
                    let _ = std::fs::remove_file(&config);
                    [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &config.display().to_string(),
                        "--cluster-node-timeout",
                        "1000",
                        // The default, port + 10000, may be past 65535.
                        "--cluster-port",
                        &free_port().to_string(),
                    ]
                    .map(str::to_owned)
                    .to_vec()
                })
            })
            .collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let created = create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli (Debian's redis-tools) runs");
        assert!(created.success(), "redis-cli --cluster create failed");
        let cluster = RedisCluster { nodes };
        cluster.wait_until(Self::settled);
        cluster
    }

    /// Whether every live node sees the whole cluster, and every replica is in sync.
    fn settled(&self) -> bool {
        self.live().all(|port| {
            let info = cli(port, &["CLUSTER", "INFO"]);
            let replication = cli(port, &["INFO", "replication"]);
            info.contains("cluster_state:ok")
                && (!replication.contains("role:slave")
                    || replication.contains("master_link_status:up"))
        })
    }

    /// Starts a killed node again on its port, with its cluster configuration: it
    /// rejoins (a failed-over primary as a replica). Waits until the cluster settled.
    pub fn revive(&mut self, port: u16) {
        self.node(port).restart();
        self.wait_until(Self::settled);
    }

    /// The nodes' URLs, `redis://127.0.0.1:PORT`, for seeds.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect()
    }

    /// The port of the primary that serves `key`'s slot now.
    pub fn master_of(&self, key: &str) -> u16 {
        self.serving(key).expect("a primary serves the slot")
    }

    /// The port of the primary that serves `key`'s slot, if one does.
    fn serving(&self, key: &str) -> Option<u16> {
        let port = self.live().next()?;
        let slot: u16 = cli(port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .ok()?;
        for line in cli(port, &["CLUSTER", "NODES"]).lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => {
                    a.parse::<u16>().is_ok_and(|a| a <= slot)
                        && b.parse::<u16>().is_ok_and(|b| slot <= b)
                }
                None => range.parse::<u16>().is_ok_and(|s| s == slot),
            });
            if serves {
                let addr = fields[1].split('@').next()?;
                return addr.rsplit(':').next().and_then(|p| p.parse().ok());
            }
        }
        None
    }

    /// Kills (SIGKILL) the primary that serves `key`'s slot, then waits until one of
    /// its replicas serves it and the cluster is whole again. Returns the killed
    /// node's port.
    pub fn fail_over(&mut self, key: &str) -> u16 {
        let port = self.master_of(key);
        self.node(port).kill();
        self.wait_until(|c| {
            c.live()
                .all(|p| cli(p, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
                && c.serving(key).is_some_and(|p| p != port)
        });
        port
    }

    /// Moves `key`'s slot to another primary, as resharding does (`IMPORTING` /
    /// `MIGRATING`, its keys moved with `MIGRATE` a few at a time, then the slot
    /// assigned everywhere), while clients go on using it. Returns the new owner's
    /// port.
    pub fn move_slot(&self, key: &str) -> u16 {
        let from = self.master_of(key);
        let port = self.live().next().expect("a live node");
        let slot = cli(port, &["CLUSTER", "KEYSLOT", key]).trim().to_owned();
        let primaries: Vec<(String, u16)> = cli(port, &["CLUSTER", "NODES"])
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                if fields.len() < 8 || !fields[2].contains("master") || fields[2].contains("fail") {
                    return None;
                }
                let addr = fields[1].split('@').next()?;
                let port = addr.rsplit(':').next()?.parse().ok()?;
                Some((fields[0].to_owned(), port))
            })
            .collect();
        let id_of = |port: u16| -> String {
            let (id, _) = primaries
                .iter()
                .find(|(_, p)| *p == port)
                .expect("a primary");
            id.clone()
        };
        let to = primaries
            .iter()
            .map(|(_, p)| *p)
            .find(|p| *p != from)
            .expect("another primary");
        let ok = |out: String| assert!(out.trim() == "OK", "{out}");
        ok(cli(
            to,
            &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &id_of(from)],
        ));
        ok(cli(
            from,
            &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &id_of(to)],
        ));
        loop {
            let keys = cli(from, &["CLUSTER", "GETKEYSINSLOT", &slot, "1"]);
            let keys: Vec<&str> = keys.split_whitespace().collect();
            if keys.is_empty() {
                break;
            }
            let to_port = to.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", &to_port, "", "0", "5000", "KEYS"];
            args.extend(keys);
            ok(cli(from, &args));
            // Clients meet the slot half moved meanwhile.
            std::thread::sleep(Duration::from_millis(200));
        }
        for (_, port) in &primaries {
            ok(cli(
                *port,
                &["CLUSTER", "SETSLOT", &slot, "NODE", &id_of(to)],
            ));
        }
        self.wait_until(|c| c.settled() && c.serving(key) == Some(to));
        to
    }

    fn node(&mut self, port: u16) -> &mut RedisServer {
        let node = self.nodes.iter_mut().find(|n| n.port == port);
        node.expect("a node of the cluster")
    }

    fn live(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
    }

    fn wait_until(&self, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "the cluster did not settle in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// What `redis-cli -p PORT ARGS...` printed (empty if it failed).
fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}
