//! The tokio shell: one task pumps one [`Endpoint`] over one UDP socket, like quinn's
//! `ConnectionDriver`. Constructors never spawn; run [`Server::serve`] or
//! [`ClientDriver::run`] on a task of your choice.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::task::Poll;

use rand::Rng as _;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::consts::option;
use crate::endpoint::{Endpoint, Event, RequestHandle};
use crate::error::{Error, Result};
use crate::message::{Code, Message};
use crate::resource::RequestId;
use crate::router::Router;
use crate::security::{PlainCoap, SecurityLayer};

/// One response to a multicast request ([`Client::multicast_request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupResponse {
    /// The unicast address of the server that answered.
    pub from: SocketAddr,
    /// Its response.
    pub response: Message,
}

/// One update of an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObserveUpdate {
    /// The Observe sequence number; `None` for the final response that ended the
    /// observation (after which the stream ends).
    pub sequence: Option<u32>,
    /// The notification or final response.
    pub response: Message,
}

enum Command {
    Request {
        peer: SocketAddr,
        message: Message,
        confirmable: bool,
        reply: oneshot::Sender<Result<Message>>,
    },
    Observe {
        peer: SocketAddr,
        message: Message,
        updates: mpsc::Sender<Result<ObserveUpdate>>,
        reply: oneshot::Sender<Result<RequestHandle>>,
    },
    CancelObserve(RequestHandle),
    Multicast {
        group: SocketAddr,
        message: Message,
        collect_for: core::time::Duration,
        reply: oneshot::Sender<Result<Vec<GroupResponse>>>,
    },
    Notify(String, oneshot::Sender<usize>),
    Respond(RequestId, Message),
    Shutdown,
}

fn io_err(e: &std::io::Error) -> Error {
    Error::Io(e.to_string())
}

fn fresh_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    seed
}

fn std_now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Receives from whichever of `sockets` has a datagram (pending forever when empty).
async fn recv_any(sockets: &[UdpSocket], buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    std::future::poll_fn(|cx| {
        for s in sockets {
            let mut rb = tokio::io::ReadBuf::new(&mut *buf);
            if let Poll::Ready(r) = s.poll_recv_from(cx, &mut rb) {
                return Poll::Ready(r.map(|from| (rb.filled().len(), from)));
            }
        }
        Poll::Pending
    })
    .await
}

/// A socket bound to `group` (address and port) with SO_REUSEADDR, so that several
/// endpoints on one host can share the group's port, joined to the group on `interface`.
/// Bound to the group address, it receives only datagrams sent to the group.
fn multicast_socket_v4(group: SocketAddrV4, interface: Ipv4Addr) -> Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    if !group.ip().is_multicast() {
        return Err(Error::Misuse("not an IPv4 multicast address"));
    }
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(|e| io_err(&e))?;
    s.set_reuse_address(true).map_err(|e| io_err(&e))?;
    s.bind(&SocketAddr::V4(group).into())
        .map_err(|e| io_err(&e))?;
    s.join_multicast_v4(group.ip(), &interface)
        .map_err(|e| io_err(&e))?;
    s.set_nonblocking(true).map_err(|e| io_err(&e))?;
    Ok(s.into())
}

/// Sets the interface multicast datagrams leave from (IP_MULTICAST_IF) and enables
/// their loopback to group members on this host (IP_MULTICAST_LOOP).
fn set_multicast_interface_v4(socket: &UdpSocket, interface: Ipv4Addr) -> Result<()> {
    socket2::SockRef::from(socket)
        .set_multicast_if_v4(&interface)
        .map_err(|e| io_err(&e))?;
    socket.set_multicast_loop_v4(true).map_err(|e| io_err(&e))
}

/// Responses collected so far for a multicast request, and where they go at the end.
type Collecting = (
    Vec<GroupResponse>,
    oneshot::Sender<Result<Vec<GroupResponse>>>,
);

/// The loop shared by [`Server::serve`] and [`ClientDriver::run`]. Datagrams from
/// `multicast` sockets are fed as multicast requests; everything is sent from `socket`.
async fn drive<S: SecurityLayer>(
    socket: UdpSocket,
    multicast: Vec<UdpSocket>,
    mut endpoint: Endpoint<S>,
    mut commands: mpsc::Receiver<Command>,
) -> Result<()> {
    let mut recv_buf = vec![0u8; 65_535];
    let mut mcast_buf = vec![0u8; 65_535];
    let mut collecting: HashMap<RequestHandle, Collecting> = HashMap::new();
    let mut send_buf = Vec::with_capacity(2048);
    let mut waiting: HashMap<RequestHandle, oneshot::Sender<Result<Message>>> = HashMap::new();
    let mut observing: HashMap<RequestHandle, mpsc::Sender<Result<ObserveUpdate>>> = HashMap::new();
    loop {
        // Drain outputs in the engine's order: transmit, timeout, events.
        let now = std_now();
        while let Some(t) = endpoint.poll_transmit(now, &mut send_buf) {
            if let Err(e) = socket
                .send_to(send_buf.get(..t.size).unwrap_or_default(), t.destination)
                .await
            {
                tracing::debug!(error = %e, to = %t.destination, "send failed");
            }
        }
        let deadline = endpoint.poll_timeout();
        while let Some(ev) = endpoint.poll_event() {
            match ev {
                Event::Response { handle, response } => {
                    if let Some(tx) = waiting.remove(&handle) {
                        let _ = tx.send(Ok(response));
                    } else if let Some(tx) = observing.remove(&handle) {
                        let _ = tx.try_send(Ok(ObserveUpdate {
                            sequence: None,
                            response,
                        }));
                    }
                }
                Event::Notification {
                    handle,
                    sequence,
                    response,
                } => {
                    if let Some(tx) = observing.get(&handle) {
                        if tx.is_closed() {
                            observing.remove(&handle);
                            endpoint.forget(handle);
                        } else {
                            // A slow consumer misses intermediate states, as RFC 7641 allows.
                            let _ = tx.try_send(Ok(ObserveUpdate {
                                sequence: Some(sequence),
                                response,
                            }));
                        }
                    }
                }
                Event::Failed { handle, error } => {
                    if let Some(tx) = waiting.remove(&handle) {
                        let _ = tx.send(Err(error));
                    } else if let Some(tx) = observing.remove(&handle) {
                        let _ = tx.try_send(Err(error));
                    }
                }
                Event::GroupResponse {
                    handle,
                    from,
                    response,
                } => {
                    if let Some((got, _)) = collecting.get_mut(&handle) {
                        got.push(GroupResponse { from, response });
                    }
                }
                Event::GroupDone { handle, .. } => {
                    if let Some((got, tx)) = collecting.remove(&handle) {
                        let _ = tx.send(Ok(got));
                    }
                }
            }
        }
        let sleep = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            r = socket.recv_from(&mut recv_buf) => match r {
                Ok((n, from)) => {
                    let _ = endpoint.handle_datagram(std_now(), from, recv_buf.get(..n).unwrap_or_default());
                }
                // ICMP errors (e.g. port unreachable) surface here on some systems; the
                // engine's timers deal with the consequences.
                Err(e) => tracing::debug!(error = %e, "recv failed"),
            },
            r = recv_any(&multicast, &mut mcast_buf), if !multicast.is_empty() => match r {
                Ok((n, from)) => {
                    let _ = endpoint.handle_multicast_datagram(std_now(), from, mcast_buf.get(..n).unwrap_or_default());
                }
                Err(e) => tracing::debug!(error = %e, "multicast recv failed"),
            },
            () = sleep => endpoint.handle_timeout(std_now()),
            cmd = commands.recv() => {
                let now = std_now();
                match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(Command::Request { peer, message, confirmable, reply }) => {
                        match endpoint.request(now, peer, message, confirmable) {
                            Ok(h) => { waiting.insert(h, reply); }
                            Err(e) => { let _ = reply.send(Err(e)); }
                        }
                    }
                    Some(Command::Observe { peer, message, updates, reply }) => {
                        match endpoint.observe(now, peer, message, true) {
                            Ok(h) => {
                                observing.insert(h, updates);
                                let _ = reply.send(Ok(h));
                            }
                            Err(e) => { let _ = reply.send(Err(e)); }
                        }
                    }
                    Some(Command::CancelObserve(h)) => {
                        let _ = endpoint.cancel_observe(now, h);
                    }
                    Some(Command::Multicast { group, message, collect_for, reply }) => {
                        match endpoint.multicast_request(now, group, message, collect_for) {
                            Ok(h) => { collecting.insert(h, (Vec::new(), reply)); }
                            Err(e) => { let _ = reply.send(Err(e)); }
                        }
                    }
                    Some(Command::Notify(path, reply)) => {
                        let _ = reply.send(endpoint.notify(now, &path));
                    }
                    Some(Command::Respond(id, message)) => {
                        if let Err(e) = endpoint.respond(now, id, message) {
                            tracing::debug!(error = %e, "deferred response for an unknown request");
                        }
                    }
                }
            }
        }
    }
    // Flush what is queued (e.g. the last ACKs) before stopping.
    let now = std_now();
    while let Some(t) = endpoint.poll_transmit(now, &mut send_buf) {
        let _ = socket
            .send_to(send_buf.get(..t.size).unwrap_or_default(), t.destination)
            .await;
    }
    for (_, tx) in waiting {
        let _ = tx.send(Err(Error::Shutdown));
    }
    for (_, (_, tx)) in collecting {
        let _ = tx.send(Err(Error::Shutdown));
    }
    Ok(())
}

/// A CoAP server on one UDP socket. Create with [`Server::bind`], mount resources,
/// take [`Server::handle`]s, then run [`Server::serve`] (it returns after
/// [`ServerHandle::shutdown`]).
#[must_use = "a server does nothing until `serve` runs"]
pub struct Server<S: SecurityLayer = PlainCoap> {
    socket: UdpSocket,
    multicast: Vec<std::net::UdpSocket>,
    endpoint: Endpoint<S>,
    tx: mpsc::Sender<Command>,
    rx: mpsc::Receiver<Command>,
}

impl<S: SecurityLayer> core::fmt::Debug for Server<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Server")
            .field("socket", &self.socket)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Server<PlainCoap> {
    /// Binds a plain-CoAP server to `addr`.
    ///
    /// # Errors
    /// [`Error::Io`] when the socket cannot be bound.
    pub async fn bind(addr: SocketAddr, config: Config, router: Router) -> Result<Self> {
        Self::bind_with_security(addr, config, router, PlainCoap).await
    }
}

impl<S: SecurityLayer> Server<S> {
    /// Binds a server whose requests pass through `security`.
    ///
    /// # Errors
    /// [`Error::Io`] when the socket cannot be bound.
    pub async fn bind_with_security(
        addr: SocketAddr,
        config: Config,
        router: Router,
        security: S,
    ) -> Result<Self> {
        let socket = UdpSocket::bind(addr).await.map_err(|e| io_err(&e))?;
        Ok(Self::from_socket(
            socket,
            Endpoint::with_security(config, router, security, fresh_seed()),
        ))
    }

    /// Wraps an already bound socket and a configured endpoint.
    pub fn from_socket(socket: UdpSocket, endpoint: Endpoint<S>) -> Self {
        let (tx, rx) = mpsc::channel(256);
        Self {
            socket,
            multicast: Vec::new(),
            endpoint,
            tx,
            rx,
        }
    }

    /// Also serves requests sent to the IPv4 multicast `group` (address and port, e.g.
    /// `224.0.1.187:5683`, "All CoAP Nodes", RFC 7252 §12.8), received on `interface`
    /// (e.g. `127.0.0.1` for loopback). A second socket is bound to the group address with
    /// SO_REUSEADDR (so several servers on one host can join the same group and port) and
    /// joins the group; responses leave from the server's own unicast socket, as
    /// RFC 7252 §8.2 asks. See [`Endpoint::handle_multicast_datagram`] and
    /// [`crate::config::MulticastConfig`] for leisure and response suppression.
    ///
    /// # Errors
    /// [`Error::Misuse`] for a non-multicast address, [`Error::Io`] when the socket cannot
    /// be bound or the group cannot be joined.
    pub fn join_multicast_v4(&mut self, group: SocketAddrV4, interface: Ipv4Addr) -> Result<()> {
        self.multicast.push(multicast_socket_v4(group, interface)?);
        Ok(())
    }

    /// Sets the interface the server's own multicast requests (through
    /// [`ServerHandle::client`]) leave from, and enables multicast loopback.
    ///
    /// # Errors
    /// [`Error::Io`] from the socket.
    pub fn set_multicast_interface_v4(&self, interface: Ipv4Addr) -> Result<()> {
        set_multicast_interface_v4(&self.socket, interface)
    }

    /// The bound address.
    ///
    /// # Errors
    /// [`Error::Io`] from the socket.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket.local_addr().map_err(|e| io_err(&e))
    }

    /// The endpoint, to mount resources or install security contexts before serving.
    pub fn endpoint_mut(&mut self) -> &mut Endpoint<S> {
        &mut self.endpoint
    }

    /// A handle to notify observers, answer deferred requests, send requests from the
    /// server's socket, and shut down.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            tx: self.tx.clone(),
        }
    }

    /// Serves until [`ServerHandle::shutdown`].
    ///
    /// # Errors
    /// [`Error::Io`] when a multicast socket cannot be registered with the runtime.
    pub async fn serve(self) -> Result<()> {
        let Self {
            socket,
            multicast,
            endpoint,
            tx,
            rx,
        } = self;
        // The server keeps one sender so that it serves even without handles.
        let _keep = tx;
        let multicast = multicast
            .into_iter()
            .map(UdpSocket::from_std)
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| io_err(&e))?;
        drive(socket, multicast, endpoint, rx).await
    }
}

/// Controls a running [`Server`].
#[derive(Debug, Clone)]
pub struct ServerHandle {
    tx: mpsc::Sender<Command>,
}

impl ServerHandle {
    /// Tells the server that the resource at `path` changed; returns how many observers
    /// were notified.
    ///
    /// # Errors
    /// [`Error::Shutdown`] when the server has stopped.
    pub async fn notify(&self, path: &str) -> Result<usize> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Notify(path.to_owned(), reply))
            .await
            .map_err(|_| Error::Shutdown)?;
        rx.await.map_err(|_| Error::Shutdown)
    }

    /// Answers a request a resource deferred with [`crate::Handled::Deferred`].
    ///
    /// # Errors
    /// [`Error::Shutdown`] when the server has stopped.
    pub async fn respond(&self, id: RequestId, response: Message) -> Result<()> {
        self.tx
            .send(Command::Respond(id, response))
            .await
            .map_err(|_| Error::Shutdown)
    }

    /// Like [`ServerHandle::respond`] but from synchronous code (a resource handler).
    ///
    /// # Errors
    /// [`Error::Shutdown`] when the server stopped, [`Error::LimitReached`] when the
    /// command queue is full.
    pub fn try_respond(&self, id: RequestId, response: Message) -> Result<()> {
        self.tx
            .try_send(Command::Respond(id, response))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    Error::LimitReached(crate::error::Limit::Deferred)
                }
                mpsc::error::TrySendError::Closed(_) => Error::Shutdown,
            })
    }

    /// A client that sends from the server's socket (e.g. an RS asking its AS).
    #[must_use]
    pub fn client(&self) -> Client {
        Client {
            tx: self.tx.clone(),
            local: None,
        }
    }

    /// Stops the server; [`Server::serve`] returns.
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Command::Shutdown).await;
    }
}

/// An async CoAP client. Cheap to clone; all clones share one socket and one engine,
/// pumped by the [`ClientDriver`] returned from [`Client::bind`].
#[derive(Debug, Clone)]
pub struct Client {
    tx: mpsc::Sender<Command>,
    local: Option<SocketAddr>,
}

/// Pumps a [`Client`]'s engine; it ends when every [`Client`] clone is dropped.
#[must_use = "the client does nothing unless the driver runs (spawn `driver.run()`)"]
pub struct ClientDriver {
    socket: UdpSocket,
    endpoint: Endpoint<PlainCoap>,
    rx: mpsc::Receiver<Command>,
}

impl core::fmt::Debug for ClientDriver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientDriver")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl ClientDriver {
    /// Runs until every [`Client`] is dropped.
    ///
    /// # Errors
    /// None today; the `Result` leaves room for fatal socket errors.
    pub async fn run(self) -> Result<()> {
        drive(self.socket, Vec::new(), self.endpoint, self.rx).await
    }

    /// Sets the interface multicast requests ([`Client::multicast_request`]) leave from
    /// (IP_MULTICAST_IF, e.g. `127.0.0.1` for loopback) and enables multicast loopback so
    /// that group members on this host receive them.
    ///
    /// # Errors
    /// [`Error::Io`] from the socket.
    pub fn set_multicast_interface_v4(&self, interface: Ipv4Addr) -> Result<()> {
        set_multicast_interface_v4(&self.socket, interface)
    }
}

impl Client {
    /// Binds a client socket to `local` (use port 0 for an ephemeral port).
    ///
    /// # Errors
    /// [`Error::Io`] when the socket cannot be bound.
    pub async fn bind(local: SocketAddr, config: Config) -> Result<(Self, ClientDriver)> {
        let socket = UdpSocket::bind(local).await.map_err(|e| io_err(&e))?;
        let local = socket.local_addr().ok();
        let (tx, rx) = mpsc::channel(256);
        let endpoint = Endpoint::new(config, Router::new(), fresh_seed());
        Ok((
            Self { tx, local },
            ClientDriver {
                socket,
                endpoint,
                rx,
            },
        ))
    }

    /// The bound address (`None` for a client borrowed from a server).
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// Sends `message` to `peer` and waits for the final response (block-wise
    /// transfers in either direction are done transparently).
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Reset`], block-wise failures, [`Error::Shutdown`].
    pub async fn request(
        &self,
        peer: SocketAddr,
        message: Message,
        confirmable: bool,
    ) -> Result<Message> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Request {
                peer,
                message,
                confirmable,
                reply,
            })
            .await
            .map_err(|_| Error::Shutdown)?;
        rx.await.map_err(|_| Error::Shutdown)?
    }

    /// GET `path` (which may carry `?query`).
    ///
    /// # Errors
    /// As [`Client::request`].
    pub async fn get(&self, peer: SocketAddr, path: &str) -> Result<Message> {
        self.request(peer, Message::request(Code::GET, path), true)
            .await
    }

    /// POST `payload` to `path` with an optional Content-Format.
    ///
    /// # Errors
    /// As [`Client::request`].
    pub async fn post(
        &self,
        peer: SocketAddr,
        path: &str,
        payload: Vec<u8>,
        content_format: Option<u16>,
    ) -> Result<Message> {
        self.request(
            peer,
            with_body(Code::POST, path, payload, content_format),
            true,
        )
        .await
    }

    /// PUT `payload` to `path` with an optional Content-Format.
    ///
    /// # Errors
    /// As [`Client::request`].
    pub async fn put(
        &self,
        peer: SocketAddr,
        path: &str,
        payload: Vec<u8>,
        content_format: Option<u16>,
    ) -> Result<Message> {
        self.request(
            peer,
            with_body(Code::PUT, path, payload, content_format),
            true,
        )
        .await
    }

    /// DELETE `path`.
    ///
    /// # Errors
    /// As [`Client::request`].
    pub async fn delete(&self, peer: SocketAddr, path: &str) -> Result<Message> {
        self.request(peer, Message::request(Code::DELETE, path), true)
            .await
    }

    /// Sends `message` as a NON request to the multicast address `group` (RFC 7252 §8.1)
    /// and returns every response that arrived within `collect_for`, each with the
    /// unicast address of the server that sent it (possibly none). On loopback, call
    /// [`ClientDriver::set_multicast_interface_v4`] first.
    ///
    /// # Errors
    /// As [`crate::Endpoint::multicast_request`]; [`Error::Shutdown`].
    pub async fn multicast_request(
        &self,
        group: SocketAddr,
        message: Message,
        collect_for: core::time::Duration,
    ) -> Result<Vec<GroupResponse>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Multicast {
                group,
                message,
                collect_for,
                reply,
            })
            .await
            .map_err(|_| Error::Shutdown)?;
        rx.await.map_err(|_| Error::Shutdown)?
    }

    /// Observes `path` (RFC 7641). The first update is the registration's response.
    ///
    /// # Errors
    /// [`Error::Shutdown`] or a refusal by the engine (limits).
    pub async fn observe(&self, peer: SocketAddr, path: &str) -> Result<Observation> {
        let (updates, updates_rx) = mpsc::channel(64);
        let (reply, rx) = oneshot::channel();
        let message = Message::request(Code::GET, path);
        self.tx
            .send(Command::Observe {
                peer,
                message,
                updates,
                reply,
            })
            .await
            .map_err(|_| Error::Shutdown)?;
        let handle = rx.await.map_err(|_| Error::Shutdown)??;
        Ok(Observation {
            handle,
            rx: updates_rx,
            tx: self.tx.clone(),
        })
    }
}

fn with_body(code: Code, path: &str, payload: Vec<u8>, content_format: Option<u16>) -> Message {
    let mut m = Message::request(code, path).with_payload(payload);
    if let Some(cf) = content_format {
        m.options.set_uint(option::CONTENT_FORMAT, u32::from(cf));
    }
    m
}

/// A running observation: updates in order, stale ones already filtered out.
#[derive(Debug)]
pub struct Observation {
    handle: RequestHandle,
    rx: mpsc::Receiver<Result<ObserveUpdate>>,
    tx: mpsc::Sender<Command>,
}

impl Observation {
    /// The next update; `None` after the final response, a failure, or shutdown.
    pub async fn next(&mut self) -> Option<Result<ObserveUpdate>> {
        self.rx.recv().await
    }

    /// Deregisters with GET Observe=1 (RFC 7641 §3.6); the server's answer arrives as a
    /// final update with `sequence: None`.
    ///
    /// # Errors
    /// [`Error::Shutdown`] when the driver has stopped.
    pub async fn cancel(&self) -> Result<()> {
        self.tx
            .send(Command::CancelObserve(self.handle))
            .await
            .map_err(|_| Error::Shutdown)
    }
}
