//! A test double of the Prism admin: a real tonic server implementing `prism.ControlPlane` on a
//! loopback port that records every call. Like the real admin, CreateNamespace is not idempotent:
//! a second create of the same namespace answers ALREADY_EXISTS. It can be told to fail creates or
//! revokes, to answer late (after doing the work, as a slow admin would), and stopped and
//! restarted on the same port (dropping the connections of calls in flight) to simulate an outage.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use prism_operator::admin::proto::{
    CreateNamespaceRequest, CreateNamespaceResponse, HeartbeatAck, NamespaceRevocation, NamespaceRevocationAck,
    ProxyHeartbeat,
    control_plane_server::{ControlPlane, ControlPlaneServer},
};
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

/// The partition the double assigns.
pub const PARTITION: i32 = 7;
/// The proxy the double assigns.
pub const PROXY: &str = "proxy-0";

/// One recorded call.
#[derive(Clone, Debug)]
pub enum Call {
    Create(CreateNamespaceRequest),
    Revoke(NamespaceRevocation),
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    existing: BTreeSet<String>,
    /// How often each namespace was really created (not answered ALREADY_EXISTS).
    provisioned: BTreeMap<String, usize>,
    fail_creates: Option<(tonic::Code, String)>,
    fail_revokes: Option<(tonic::Code, String)>,
    delay: Option<Duration>,
}

#[derive(Clone, Default)]
struct Service(Arc<Mutex<State>>);

#[tonic::async_trait]
impl ControlPlane for Service {
    async fn create_namespace(
        &self,
        request: Request<CreateNamespaceRequest>,
    ) -> Result<Response<CreateNamespaceResponse>, Status> {
        let request = request.into_inner();
        let (answer, delay) = {
            let mut state = self.0.lock().expect("lock");
            state.calls.push(Call::Create(request.clone()));
            let answer = if let Some((code, message)) = state.fail_creates.clone() {
                Err(Status::new(code, message))
            } else if !state.existing.insert(request.namespace.clone()) {
                Err(Status::already_exists(format!("namespace {} already exists", request.namespace)))
            } else {
                *state.provisioned.entry(request.namespace.clone()).or_default() += 1;
                Ok(Response::new(CreateNamespaceResponse {
                    success: true,
                    message: "created".into(),
                    assigned_partition: PARTITION,
                    assigned_proxy: PROXY.into(),
                }))
            };
            (answer, state.delay)
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await; // the slow admin: the work is done, the answer late
        }
        answer
    }

    async fn revoke_namespace(
        &self,
        request: Request<NamespaceRevocation>,
    ) -> Result<Response<NamespaceRevocationAck>, Status> {
        let request = request.into_inner();
        let (answer, delay) = {
            let mut state = self.0.lock().expect("lock");
            state.calls.push(Call::Revoke(request.clone()));
            let answer = if let Some((code, message)) = state.fail_revokes.clone() {
                Err(Status::new(code, message))
            } else {
                state.existing.remove(&request.namespace);
                Ok(Response::new(NamespaceRevocationAck { success: true, message: "revoked".into(), revoked_at: 1 }))
            };
            (answer, state.delay)
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        answer
    }

    async fn heartbeat(&self, _: Request<ProxyHeartbeat>) -> Result<Response<HeartbeatAck>, Status> {
        Ok(Response::new(HeartbeatAck {}))
    }
}

/// The running double.
pub struct AdminDouble {
    service: Service,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl AdminDouble {
    /// Starts the double on a free loopback port.
    pub async fn start() -> Self {
        let incoming = TcpIncoming::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = incoming.local_addr().expect("addr");
        let mut double = Self { service: Service::default(), addr, stop: None, task: None };
        double.serve(incoming);
        double
    }

    fn serve(&mut self, incoming: TcpIncoming) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let svc = ControlPlaneServer::new(self.service.clone());
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = rx.await;
                })
                .await;
        }));
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving (the port refuses connections).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Serves again on the same port.
    pub async fn restart(&mut self) {
        let incoming = TcpIncoming::bind(self.addr).expect("rebind");
        self.serve(incoming);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.service.0.lock().expect("lock").calls.clone()
    }

    /// The CreateNamespace requests for `namespace`.
    pub fn creates(&self, namespace: &str) -> Vec<CreateNamespaceRequest> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Create(r) if r.namespace == namespace => Some(r),
                _ => None,
            })
            .collect()
    }

    /// The RevokeNamespace requests for `namespace`.
    pub fn revokes(&self, namespace: &str) -> Vec<NamespaceRevocation> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Revoke(r) if r.namespace == namespace => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Makes every CreateNamespace fail with `code` and `message` (None: succeed again).
    pub fn fail_creates(&self, failure: Option<(tonic::Code, &str)>) {
        self.service.0.lock().expect("lock").fail_creates = failure.map(|(c, m)| (c, m.to_owned()));
    }

    /// Makes every RevokeNamespace fail with `code` and `message` (None: succeed again).
    pub fn fail_revokes(&self, failure: Option<(tonic::Code, &str)>) {
        self.service.0.lock().expect("lock").fail_revokes = failure.map(|(c, m)| (c, m.to_owned()));
    }

    /// Answers every call `delay` after doing its work (None: at once).
    pub fn delay(&self, delay: Option<Duration>) {
        self.service.0.lock().expect("lock").delay = delay;
    }

    /// How often `namespace` was really created on the double.
    pub fn provisioned(&self, namespace: &str) -> usize {
        self.service.0.lock().expect("lock").provisioned.get(namespace).copied().unwrap_or_default()
    }

    /// Whether `namespace` exists on the double now.
    pub fn exists(&self, namespace: &str) -> bool {
        self.service.0.lock().expect("lock").existing.contains(namespace)
    }
}

impl Drop for AdminDouble {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
