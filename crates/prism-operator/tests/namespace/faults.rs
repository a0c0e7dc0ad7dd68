//! The admin misbehaving while namespaces are provisioned and deleted: answering only after the
//! operator's call timeout (having done the work), failing, and losing its connections in the
//! middle of a call. Every namespace is created on the admin exactly once and becomes Active, and
//! every deletion ends within the revoke grace period.

use std::time::Instant;

use prism_operator::admin::CALL_TIMEOUT;
use support::Operator;
use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use super::{admin_double::AdminDouble, *};

/// Grace period of the deletions here: long enough for one slow call and a retry.
const LONG_GRACE: Duration = Duration::from_secs(20);

/// A loopback TCP relay to the admin whose open connections can be cut, as a failing network or
/// load balancer would.
struct Relay {
    port: u16,
    accept: JoinHandle<()>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let tracked = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tracked.lock().expect("lock").push(relay);
            }
        });
        Self { port, accept, connections }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Closes every open connection (calls in flight fail); new connections are accepted.
    fn cut(&self) -> usize {
        let open = std::mem::take(&mut *self.connections.lock().expect("lock"));
        let live = open.iter().filter(|c| !c.is_finished()).count();
        open.into_iter().for_each(|c| c.abort());
        live
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    eventually(what, async || done().then_some(()).ok_or_else(|| "not yet".to_owned())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_slow_erroring_and_dropping_connections() {
    let (cp, client, ns, _guard) = setup().await;
    let admin = AdminDouble::start().await;
    let relay = Relay::start(admin.endpoint().trim_start_matches("http://").parse().expect("addr")).await;
    let endpoint = relay.endpoint();
    let _op = Operator::start_with(cp, &ns, |s| {
        s.admin_endpoint = Some(endpoint);
        s.revoke_grace_period = LONG_GRACE;
    })
    .await;
    let tenant = |id: &str| json!({"namespaceId": id, "proxyRef": {"name": "s"}});

    // Slow: the admin creates the namespace but answers after the operator's call timed out; the
    // retry is told it exists already.
    admin.delay(Some(CALL_TIMEOUT + Duration::from_secs(2)));
    create_tenant(&client, &ns, "slow", None, tenant("slow")).await;
    until("the slow create at the admin", || !admin.creates("slow").is_empty()).await;
    admin.delay(None);
    // Erroring: UNAVAILABLE until it recovers.
    admin.fail_creates(Some((tonic::Code::Unavailable, "admin restarting")));
    create_tenant(&client, &ns, "flaky", None, tenant("flaky")).await;
    until("the failing create retried", || admin.creates("flaky").len() >= 2).await;
    admin.fail_creates(None);
    // Dropping: the connection of a call in flight is cut.
    admin.delay(Some(Duration::from_secs(30)));
    create_tenant(&client, &ns, "dropped", None, tenant("dropped")).await;
    until("the dropped create at the admin", || !admin.creates("dropped").is_empty()).await;
    admin.delay(None);
    assert!(relay.cut() >= 1, "a connection was open to cut");

    for name in ["slow", "flaky", "dropped"] {
        let o = phase(&client, &ns, name, NamespacePhase::Active).await;
        let calls = admin.creates(name).len();
        eprintln!("{name}: Active after {calls} CreateNamespace calls");
        assert_eq!(admin.provisioned(name), 1, "{name} created on the admin once (in {calls} calls)");
        assert!(calls >= 2, "{name}: the operator retried ({calls} calls)");
        assert_eq!(condition(&o, "Provisioned").0, "True", "{name}: {:?}", o.status);
    }

    // Deletion with the admin failing, then recovering: revoked, gone.
    admin.fail_revokes(Some((tonic::Code::Unavailable, "admin restarting")));
    let started = Instant::now();
    delete(&client, &ns, "flaky").await;
    until("the failing revoke retried", || admin.revokes("flaky").len() >= 2).await;
    admin.fail_revokes(None);
    gone(&client, &ns, "flaky").await;
    eprintln!("flaky: deleted in {:?} ({} revokes)", started.elapsed(), admin.revokes("flaky").len());
    assert!(!admin.exists("flaky") && started.elapsed() < LONG_GRACE, "revoked within the grace period");

    // Deletion with the connection of the revoke in flight cut: retried, revoked, gone.
    admin.delay(Some(Duration::from_secs(30)));
    let started = Instant::now();
    delete(&client, &ns, "dropped").await;
    until("the dropped revoke at the admin", || !admin.revokes("dropped").is_empty()).await;
    admin.delay(None);
    admin.fail_revokes(None);
    assert!(relay.cut() >= 1, "a connection was open to cut");
    gone(&client, &ns, "dropped").await;
    eprintln!("dropped: deleted in {:?} ({} revokes)", started.elapsed(), admin.revokes("dropped").len());
    assert!(started.elapsed() < LONG_GRACE, "deleted within the grace period: {:?}", started.elapsed());

    // Deletion with an admin that never answers in time: the deletion still ends with the grace
    // period (no call runs past it), with the Warning saying so.
    admin.delay(Some(Duration::from_secs(60)));
    let started = Instant::now();
    delete(&client, &ns, "slow").await;
    gone(&client, &ns, "slow").await;
    let took = started.elapsed();
    eprintln!("slow: deleted in {took:?} (grace {LONG_GRACE:?}, {} revokes)", admin.revokes("slow").len());
    assert!(took >= LONG_GRACE - Duration::from_millis(1100), "gave up before the grace period: {took:?}");
    assert!(took <= LONG_GRACE + Duration::from_secs(4), "the deletion outlived its grace period: {took:?}");
    let note = event(&client, &ns, "slow", "Warning", "RevokeAbandoned").await;
    assert!(note.contains("grace period"), "{note}");
}
