//! A real etcd cluster for the fleet tests: three `etcd` members on 127.0.0.1, free ports, data dirs in a temp dir,
//! fast elections. Members can be killed (SIGKILL), frozen (SIGSTOP) and thawed (SIGCONT) by PID, and restarted on
//! their data dir. Everything is killed by PID and the data dirs removed on drop.
//!
//! The cluster is driven with `etcdctl` (package etcd-client in the sid root), so this helper needs no gRPC code.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::{ChildGuard, FixtureError, TempDir, free_port, wait_until};

/// The etcd server inside the sid root.
pub const ETCD: &str = "/usr/bin/etcd";
/// etcd's command-line client inside the sid root.
pub const ETCDCTL: &str = "/usr/bin/etcdctl";

/// How long [`EtcdCluster::start`] and [`EtcdCluster::wait_healthy`] wait for every member to report healthy.
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<ChildGuard>,
    stopped: bool,
}

/// TLS on the members' client URLs: their certificate, and the CA client certificates must chain to
/// (`--client-cert-auth`). `client_cert`/`client_key` are what the fixture's own `etcdctl` presents.
#[derive(Debug, Clone)]
pub struct EtcdTlsFiles {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// A 3-member etcd cluster on loopback (`--heartbeat-interval 50 --election-timeout 500`).
#[derive(Debug)]
pub struct EtcdCluster {
    // Field order = drop order: the processes go before their directory.
    members: Vec<Member>,
    token: String,
    tls: Option<EtcdTlsFiles>,
    dir: TempDir,
}

impl EtcdCluster {
    /// Starts three members and waits (up to 30 s) until each reports healthy.
    pub fn start() -> Result<EtcdCluster, FixtureError> {
        EtcdCluster::start_n(3)
    }

    /// Three members serving their clients over TLS with client-certificate authentication (peers stay plain).
    pub fn start_tls(tls: EtcdTlsFiles) -> Result<EtcdCluster, FixtureError> {
        EtcdCluster::start_with(3, Some(tls))
    }

    /// Starts `n` members (1 or more) and waits until each reports healthy.
    pub fn start_n(n: usize) -> Result<EtcdCluster, FixtureError> {
        EtcdCluster::start_with(n, None)
    }

    fn start_with(n: usize, tls: Option<EtcdTlsFiles>) -> Result<EtcdCluster, FixtureError> {
        assert!(n >= 1, "an etcd cluster needs at least one member");
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = TempDir::new("etcd");
        let token = format!("kres-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let members = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                child: None,
                stopped: false,
            })
            .collect();
        let mut cluster = EtcdCluster { members, token, tls, dir };
        for i in 0..n {
            cluster.spawn(i, "new")?;
        }
        cluster.wait_healthy()?;
        Ok(cluster)
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, i: usize, state: &str) -> Result<(), FixtureError> {
        let initial = self.initial_cluster();
        let m = &self.members[i];
        let data = self.dir.join(&m.name);
        let log_path = self.dir.join(format!("{}.log", m.name));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(FixtureError::io(format!("create {}", log_path.display())))?;
        let log2 = log.try_clone().map_err(FixtureError::io("dup etcd log"))?;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let client = format!("{scheme}://127.0.0.1:{}", m.client_port);
        let peer = format!("http://127.0.0.1:{}", m.peer_port);
        let mut cmd = Command::new(ETCD);
        if let Some(t) = &self.tls {
            cmd.arg("--cert-file")
                .arg(&t.server_cert)
                .arg("--key-file")
                .arg(&t.server_key)
                .arg("--trusted-ca-file")
                .arg(&t.ca)
                .arg("--client-cert-auth");
        }
        let child = ChildGuard::spawn(
            cmd.arg("--name")
                .arg(&m.name)
                .arg("--data-dir")
                .arg(&data)
                .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
                .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
                .args(["--initial-cluster", &initial, "--initial-cluster-state", state])
                .args(["--initial-cluster-token", &self.token])
                .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
                // Tests only: a crash of the process keeps the page cache, so skipping fsync loses nothing here.
                .arg("--unsafe-no-fsync")
                .args(["--log-level", "warn", "--logger", "zap", "--log-outputs", "stderr"])
                .current_dir(self.dir.path())
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2),
        )
        .map_err(FixtureError::io(format!("cannot start {ETCD} (is this the sid root with etcd-server?)")))?;
        let m = &mut self.members[i];
        m.child = Some(child);
        m.stopped = false;
        Ok(())
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false (a cluster has at least one member).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// `127.0.0.1:<client port>` of every member, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len()).map(|i| self.endpoint(i)).collect()
    }

    /// `127.0.0.1:<client port>` of member `i`.
    pub fn endpoint(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.members[i].client_port)
    }

    /// PID of member `i`, if it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members[i].child.as_ref().map(ChildGuard::id)
    }

    /// The log (stderr) of member `i`, for failure messages.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.members[i].name))).unwrap_or_default()
    }

    /// `etcdctl` with the given endpoints, a short command timeout and no inherited environment surprises.
    pub fn etcdctl(&self, endpoints: &[String]) -> Command {
        let mut cmd = Command::new(ETCDCTL);
        let urls: Vec<String> = match &self.tls {
            Some(_) => endpoints.iter().map(|e| format!("https://{e}")).collect(),
            None => endpoints.to_vec(),
        };
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", urls.join(",")))
            .args(["--command-timeout=2s", "--dial-timeout=1s"])
            .stdin(Stdio::null());
        if let Some(t) = &self.tls {
            cmd.arg("--cacert").arg(&t.ca).arg("--cert").arg(&t.client_cert).arg("--key").arg(&t.client_key);
        }
        cmd
    }

    fn member_healthy(&self, i: usize) -> bool {
        let m = &self.members[i];
        if m.child.is_none() || m.stopped {
            return true; // not expected to answer
        }
        self.etcdctl(&[self.endpoint(i)])
            .args(["endpoint", "health"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Waits (up to 30 s) until every running, not frozen member reports healthy (it has a leader and serves a
    /// quorum read).
    pub fn wait_healthy(&mut self) -> Result<(), FixtureError> {
        let healthy = wait_until(HEALTHY_TIMEOUT, Duration::from_millis(50), || {
            (0..self.members.len()).all(|i| self.member_healthy(i))
        });
        if healthy {
            return Ok(());
        }
        for i in 0..self.members.len() {
            if let Some(child) = self.members[i].child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(FixtureError::Exited { program: ETCD.into(), status, stderr: self.log(i) });
            }
        }
        let logs = (0..self.members.len()).map(|i| format!("--- m{i}:\n{}", self.log(i))).collect::<String>();
        Err(FixtureError::Timeout { program: ETCD.into(), after: HEALTHY_TIMEOUT, stderr: logs })
    }

    /// The index of the member that is the leader now, asked of each running member (`None` when no member answers
    /// that it leads, e.g. without quorum).
    pub fn leader(&self) -> Option<usize> {
        (0..self.members.len()).find(|&i| {
            let m = &self.members[i];
            if m.child.is_none() || m.stopped {
                return false;
            }
            // `endpoint status -w simple`: "endpoint, id, version, db size, is leader, is learner, ..."
            let out = self.etcdctl(&[self.endpoint(i)]).args(["endpoint", "status", "-w", "simple"]).output();
            out.is_ok_and(|o| {
                o.status.success()
                    && String::from_utf8_lossy(&o.stdout).split(',').nth(4).is_some_and(|f| f.trim() == "true")
            })
        })
    }

    /// Waits (up to 30 s) for a leader among the running members.
    pub fn wait_leader(&self) -> Option<usize> {
        crate::wait_for(HEALTHY_TIMEOUT, Duration::from_millis(50), || self.leader())
    }

    /// SIGKILL member `i` (by PID) and reap it. Its data dir stays, so [`EtcdCluster::restart`] can bring it back.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
        }
        self.members[i].stopped = false;
    }

    /// SIGSTOP member `i`: it stays connected but goes silent (the "hung member" case).
    pub fn stop(&mut self, i: usize) {
        if let Some(child) = self.members[i].child.as_mut() {
            child.signal("STOP").unwrap_or_else(|e| panic!("SIGSTOP m{i}: {e}"));
            self.members[i].stopped = true;
        }
    }

    /// SIGCONT member `i` after [`EtcdCluster::stop`].
    pub fn cont(&mut self, i: usize) {
        if let Some(child) = self.members[i].child.as_mut() {
            child.signal("CONT").unwrap_or_else(|e| panic!("SIGCONT m{i}: {e}"));
            self.members[i].stopped = false;
        }
    }

    /// Starts member `i` again on its data dir after [`EtcdCluster::kill`] (does not wait for it).
    pub fn restart(&mut self, i: usize) -> Result<(), FixtureError> {
        self.kill(i);
        self.spawn(i, "existing")
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                // SIGKILL reaches a stopped process too; the guard reaps it.
                let _ = child.kill();
            }
        }
    }
}
