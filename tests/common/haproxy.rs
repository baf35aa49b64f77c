//! A real HAProxy (`/usr/sbin/haproxy`, `mode tcp`) in front of a gateway,
//! sending the PROXY protocol header (`send-proxy` or `send-proxy-v2`), as
//! an L4 load balancer of a fleet does.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running haproxy; killed (by its PID) when dropped.
pub struct Haproxy {
    child: Child,
    /// The frontend address clients connect to.
    pub addr: SocketAddr,
}

/// A port free right now on 127.0.0.1 (haproxy cannot report a port 0 bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Haproxy {
    /// One `mode tcp` frontend balancing round-robin over `backends`, each
    /// server line with `server_options` (e.g. `send-proxy-v2`).
    pub fn start(dir: &Path, backends: &[SocketAddr], server_options: &str) -> Haproxy {
        let port = free_port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, b)| format!("    server gw{i} {b} {server_options}\n"))
            .collect();
        let config = format!(
            "global\n    maxconn 256\n\
             defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    default_backend gateways\n\
             backend gateways\n    balance roundrobin\n{servers}"
        );
        let file = dir.join(format!("haproxy-{port}.cfg"));
        std::fs::write(&file, config).expect("write haproxy.cfg");
        let child = Command::new(haproxy_binary())
            .args(["-db", "-f"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy (apt-get install haproxy)");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "haproxy did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Haproxy { child, addr }
    }
}

/// `HAPROXY` from the environment, else `/usr/sbin/haproxy`.
pub fn haproxy_binary() -> String {
    std::env::var("HAPROXY").unwrap_or_else(|_| "/usr/sbin/haproxy".into())
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
