//! The tokio shell: one task pumps one [`Endpoint`] over one UDP socket, like quinn's
//! `ConnectionDriver`. Constructors never spawn; run [`Server::serve`] or
//! [`ClientDriver::run`] on a task of your choice.
//!
//! Hot paths skip the hop to the driver task: once the driver runs, the engine sits
//! behind a mutex shared with the handles, and [`Client::request`] and
//! [`ServerHandle::respond`] / [`ServerHandle::try_respond`] hand their work to the
//! engine on the caller's task and send the resulting datagrams from there (the driver
//! is woken only when the engine's next timeout moved earlier than its timer). The lock
//! is held only for synchronous engine work, never across an `.await` or a system call;
//! datagrams still leave in the engine's order. Called from inside a resource handler
//! (the thread already runs an engine), while the socket is backed up, while an earlier
//! command still waits in the driver's queue, or before the driver started, the work
//! goes through the queue as before, so commands reach the engine in the order they were
//! issued whichever path each takes. Everything else (observe, cancel, notify,
//! multicast, shutdown) always goes through the queue.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::Poll;

use rand::Rng as _;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc, oneshot};

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

/// Most datagrams (or commands) taken in one turn of the driver loop before it looks at
/// its other inputs again.
const BATCH: usize = 32;

/// A datagram to send: destination and bytes.
type Datagram = (SocketAddr, Vec<u8>);

/// A result for a waiting task, handed over after the core is unlocked (so that the
/// woken task does not find the core still locked).
enum Delivery {
    Response(oneshot::Sender<Result<Message>>, Result<Message>),
    Update(mpsc::Sender<Result<ObserveUpdate>>, Result<ObserveUpdate>),
    Group(
        oneshot::Sender<Result<Vec<GroupResponse>>>,
        Result<Vec<GroupResponse>>,
    ),
}

impl Delivery {
    fn deliver(self) {
        match self {
            Self::Response(tx, r) => {
                let _ = tx.send(r);
            }
            // A slow consumer misses intermediate states, as RFC 7641 allows.
            Self::Update(tx, r) => {
                let _ = tx.try_send(r);
            }
            Self::Group(tx, r) => {
                let _ = tx.send(r);
            }
        }
    }
}

/// The state one driver task and the handles share: the engine and who waits for what.
/// Locked only for synchronous engine work (never across an `.await`, never across a
/// system call), by the driver for each input and by [`Client::request`] /
/// [`ServerHandle::respond`] to hand their work to the engine directly.
struct Core<S: SecurityLayer> {
    /// `None` once the driver has stopped (the engine, with its resources, is dropped).
    endpoint: Option<Endpoint<S>>,
    waiting: HashMap<RequestHandle, oneshot::Sender<Result<Message>>>,
    observing: HashMap<RequestHandle, mpsc::Sender<Result<ObserveUpdate>>>,
    collecting: HashMap<RequestHandle, Collecting>,
    /// Datagrams the engine produced in this section, in its order.
    outbox: Vec<Datagram>,
    /// Results for waiting tasks produced in this section.
    deliveries: Vec<Delivery>,
    /// The engine's next timeout after the last [`Core::pump`].
    deadline: Option<std::time::Instant>,
    /// The instant the driver's timer is set to.
    armed: Option<std::time::Instant>,
}

impl<S: SecurityLayer> Core<S> {
    /// Applies one command; `false` for [`Command::Shutdown`] or after the stop.
    fn apply(&mut self, now: std::time::Instant, cmd: Command) -> bool {
        let Some(endpoint) = self.endpoint.as_mut() else {
            return false;
        };
        match cmd {
            Command::Shutdown => return false,
            Command::Request {
                peer,
                message,
                confirmable,
                reply,
            } => match endpoint.request(now, peer, message, confirmable) {
                Ok(h) => {
                    self.waiting.insert(h, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Observe {
                peer,
                message,
                updates,
                reply,
            } => match endpoint.observe(now, peer, message, true) {
                Ok(h) => {
                    self.observing.insert(h, updates);
                    let _ = reply.send(Ok(h));
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::CancelObserve(h) => {
                let _ = endpoint.cancel_observe(now, h);
            }
            Command::Multicast {
                group,
                message,
                collect_for,
                reply,
            } => match endpoint.multicast_request(now, group, message, collect_for) {
                Ok(h) => {
                    self.collecting.insert(h, (Vec::new(), reply));
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Notify(path, reply) => {
                let _ = reply.send(endpoint.notify(now, &path));
            }
            Command::Respond(id, message) => {
                if let Err(e) = endpoint.respond(now, id, message) {
                    tracing::debug!(error = %e, "deferred response for an unknown request");
                }
            }
        }
        true
    }

    /// Drains the engine's outputs in its order: datagrams into the outbox (sent by
    /// [`Shared::section`] after the lock is released), events to whoever waits; notes
    /// the engine's next timeout.
    fn pump(&mut self) {
        let Some(endpoint) = self.endpoint.as_mut() else {
            return;
        };
        while let Some(datagram) = endpoint.poll_transmit_owned() {
            self.outbox.push(datagram);
        }
        while let Some(ev) = endpoint.poll_event() {
            let delivery = match ev {
                Event::Response { handle, response } => {
                    if let Some(tx) = self.waiting.remove(&handle) {
                        Delivery::Response(tx, Ok(response))
                    } else if let Some(tx) = self.observing.remove(&handle) {
                        Delivery::Update(
                            tx,
                            Ok(ObserveUpdate {
                                sequence: None,
                                response,
                            }),
                        )
                    } else {
                        continue;
                    }
                }
                Event::Notification {
                    handle,
                    sequence,
                    response,
                } => {
                    let Some(tx) = self.observing.get(&handle) else {
                        continue;
                    };
                    if tx.is_closed() {
                        self.observing.remove(&handle);
                        endpoint.forget(handle);
                        continue;
                    }
                    Delivery::Update(
                        tx.clone(),
                        Ok(ObserveUpdate {
                            sequence: Some(sequence),
                            response,
                        }),
                    )
                }
                Event::Failed { handle, error } => {
                    if let Some(tx) = self.waiting.remove(&handle) {
                        Delivery::Response(tx, Err(error))
                    } else if let Some(tx) = self.observing.remove(&handle) {
                        Delivery::Update(tx, Err(error))
                    } else {
                        continue;
                    }
                }
                Event::GroupResponse {
                    handle,
                    from,
                    response,
                } => {
                    if let Some((got, _)) = self.collecting.get_mut(&handle) {
                        got.push(GroupResponse { from, response });
                    }
                    continue;
                }
                Event::GroupDone { handle, .. } => {
                    let Some((got, tx)) = self.collecting.remove(&handle) else {
                        continue;
                    };
                    Delivery::Group(tx, Ok(got))
                }
            };
            self.deliveries.push(delivery);
        }
        self.deadline = endpoint.poll_timeout();
    }

    /// What the driver's timer should be set to: the engine's next timeout, or the
    /// instant already set when that comes first and is still ahead (waking early is
    /// harmless, [`Endpoint::handle_timeout`] ignores spurious calls; not re-arming saves
    /// a timer update, and the handles a wake-up of the driver, for every exchange).
    fn rearm(&mut self, now: std::time::Instant) -> Option<std::time::Instant> {
        self.armed = match (self.armed, self.deadline) {
            (Some(a), Some(d)) if a > now => Some(a.min(d)),
            (Some(a), None) if a > now => Some(a),
            (_, d) => d,
        };
        self.armed
    }

    /// After work done outside the driver: is the engine's next timeout earlier than
    /// the driver's timer?
    fn timer_too_late(&self) -> bool {
        self.deadline
            .is_some_and(|d| self.armed.is_none_or(|a| d < a))
    }

    /// Stops: fails what waits, ends observation streams, and takes the engine out (so
    /// that its resources, which may hold handles to this core, are dropped).
    fn close(&mut self) -> Option<Endpoint<S>> {
        for (_, tx) in self.waiting.drain() {
            let _ = tx.send(Err(Error::Shutdown));
        }
        for (_, (_, tx)) in self.collecting.drain() {
            let _ = tx.send(Err(Error::Shutdown));
        }
        self.observing.clear();
        self.endpoint.take()
    }
}

/// The sending side: taken while the core is still locked, so datagrams leave in the
/// engine's order whichever task produced them.
#[derive(Default)]
struct Outgoing {
    /// The section's datagrams (swapped with [`Core::outbox`], keeping both buffers).
    batch: Vec<Datagram>,
    /// Datagrams the socket refused with `WouldBlock`, in order; while non-empty every
    /// new datagram queues behind them and the driver takes no new input.
    unsent: VecDeque<Datagram>,
}

impl Outgoing {
    /// Sends the batch (behind what is still unsent); `true` when all of it left.
    fn send(&mut self, socket: &UdpSocket) -> bool {
        for (to, bytes) in self.batch.drain(..) {
            if !self.unsent.is_empty() {
                self.unsent.push_back((to, bytes));
                continue;
            }
            match socket.try_send_to(&bytes, to) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.unsent.push_back((to, bytes));
                }
                Err(e) => tracing::debug!(error = %e, to = %to, "send failed"),
            }
        }
        self.unsent.is_empty()
    }

    /// Sends queued datagrams until the socket refuses one; `true` when none is left.
    fn flush(&mut self, socket: &UdpSocket) -> bool {
        while let Some((to, bytes)) = self.unsent.front() {
            match socket.try_send_to(bytes, *to) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(e) => tracing::debug!(error = %e, to = %to, "send failed"),
                Ok(_) => {}
            }
            self.unsent.pop_front();
        }
        true
    }
}

/// What a [`Shared::section`] returns.
struct Section<R> {
    /// The closure's value.
    value: R,
    /// The engine's next timeout is earlier than the driver's timer.
    late: bool,
    /// For the driver: the instant to set its timer to.
    timer: Option<std::time::Instant>,
}

/// What [`DirectPath::try_direct`] did with a command.
enum Direct {
    /// Handed to the engine, outputs sent.
    Done,
    /// The driver has stopped.
    Closed,
    /// Not for the direct path now: send the command to the driver's queue.
    Busy(Command),
}

/// A core with its socket and the driver's wake-up.
struct Shared<S: SecurityLayer> {
    core: Mutex<Core<S>>,
    outgoing: Mutex<Outgoing>,
    /// Mirrors `!outgoing.unsent.is_empty()`: the socket is backed up.
    backed_up: AtomicBool,
    socket: UdpSocket,
    wake: Notify,
}

thread_local! {
    /// Whether this thread is inside a [`Shared::section`]: then it runs an engine (a
    /// resource handler may be calling [`ServerHandle::try_respond`] or
    /// [`Client::request`]), and a direct hand-over must not wait for a lock this
    /// thread may hold itself.
    static IN_CORE: Cell<bool> = const { Cell::new(false) };
}

/// Clears [`IN_CORE`] when dropped.
struct InCore;

impl InCore {
    fn enter() -> Self {
        IN_CORE.set(true);
        Self
    }
}

impl Drop for InCore {
    fn drop(&mut self) {
        IN_CORE.set(false);
    }
}

impl<S: SecurityLayer> Shared<S> {
    fn new(socket: UdpSocket, endpoint: Endpoint<S>) -> Self {
        Self {
            core: Mutex::new(Core {
                endpoint: Some(endpoint),
                waiting: HashMap::new(),
                observing: HashMap::new(),
                collecting: HashMap::new(),
                outbox: Vec::new(),
                deliveries: Vec::new(),
                deadline: None,
                armed: None,
            }),
            outgoing: Mutex::new(Outgoing::default()),
            backed_up: AtomicBool::new(false),
            socket,
            wake: Notify::new(),
        }
    }

    /// Runs `f` on the locked core and pumps the engine; after the core is unlocked,
    /// sends its datagrams (in the engine's order: the sending side is taken before the
    /// core is unlocked) and hands results to the tasks waiting for them. The driver
    /// (`rearm`) also gets its timer's new instant; a handle learns whether the driver's
    /// timer is now too late. A poisoned lock (a panic inside the engine, which does not
    /// happen on any input) is used as it is: the state is still the engine's own.
    fn section<R>(&self, rearm: bool, f: impl FnOnce(&mut Core<S>) -> R) -> Section<R> {
        let in_core = InCore::enter();
        let mut core = self.core.lock().unwrap_or_else(PoisonError::into_inner);
        let value = f(&mut core);
        core.pump();
        let late = core.timer_too_late();
        let timer = if rearm { core.rearm(std_now()) } else { None };
        let mut deliveries = core::mem::take(&mut core.deliveries);
        if core.outbox.is_empty() {
            drop(core);
        } else {
            let mut out = self.outgoing.lock().unwrap_or_else(PoisonError::into_inner);
            core::mem::swap(&mut core.outbox, &mut out.batch);
            drop(core);
            let sent = out.send(&self.socket);
            self.backed_up.store(!sent, Ordering::Release);
            drop(out);
            if !sent {
                self.wake.notify_one();
            }
        }
        drop(in_core);
        for d in deliveries.drain(..) {
            d.deliver();
        }
        Section { value, late, timer }
    }

    /// Sends what the socket refused before; `true` when nothing is left.
    fn flush(&self) -> bool {
        let mut out = self.outgoing.lock().unwrap_or_else(PoisonError::into_inner);
        let done = out.flush(&self.socket);
        self.backed_up.store(!done, Ordering::Release);
        done
    }
}

/// The part of a [`Shared`] that handles use, without its security-layer type.
trait DirectPath: Send + Sync {
    /// Hands a [`Command::Request`] or [`Command::Respond`] to the engine on the caller's
    /// task and sends what it produces, without waking the driver unless the engine's
    /// next timeout moved earlier. Waits for the lock while the driver works on one
    /// input; on a thread that is running an engine (a resource handler), or while the
    /// socket is backed up, the command comes back, for the driver's queue.
    fn try_direct(&self, cmd: Command) -> Direct;
}

impl<S: SecurityLayer> DirectPath for Shared<S> {
    fn try_direct(&self, cmd: Command) -> Direct {
        if !matches!(cmd, Command::Request { .. } | Command::Respond(..))
            || IN_CORE.get()
            || self.backed_up.load(Ordering::Acquire)
        {
            return Direct::Busy(cmd);
        }
        let done = self.section(false, |core| core.apply(std_now(), cmd));
        if !done.value {
            return Direct::Closed;
        }
        if done.late {
            self.wake.notify_one();
        }
        Direct::Done
    }
}

/// What the handles share with one driver: its command queue, the number of commands
/// queued and not yet applied, and, once it runs, its [`DirectPath`].
struct LinkState {
    /// Set when the driver starts; the driver marks its core closed when it stops.
    direct: OnceLock<Arc<dyn DirectPath>>,
    /// Commands sent (or being sent) to the queue and not yet applied by the driver.
    /// While non-zero nothing takes the direct path, so commands reach the engine in the
    /// order they were issued, whichever path each takes (ace-oscore's `OscoreClient`
    /// relies on it for Partial IV order).
    queued: AtomicUsize,
}

/// A handle's way to its driver: straight into the engine when possible
/// ([`Link::submit`]), otherwise through the queue.
#[derive(Clone)]
struct Link {
    tx: mpsc::Sender<Command>,
    state: Arc<LinkState>,
}

impl core::fmt::Debug for Link {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Link")
            .field("running", &self.state.direct.get().is_some())
            .field("queued", &self.state.queued.load(Ordering::Relaxed))
            .finish()
    }
}

/// Counts a command as queued; uncounts it on drop unless it reached the queue.
struct Queued<'a>(&'a AtomicUsize, bool);

impl<'a> Queued<'a> {
    fn new(queued: &'a AtomicUsize) -> Self {
        queued.fetch_add(1, Ordering::AcqRel);
        Self(queued, false)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Link {
    /// A queue of `capacity` commands; returns the driver's end too.
    fn new(capacity: usize) -> (Self, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(capacity);
        let state = Arc::new(LinkState {
            direct: OnceLock::new(),
            queued: AtomicUsize::new(0),
        });
        (Self { tx, state }, rx)
    }

    /// Hands `cmd` to the engine on this task when the driver runs and nothing is
    /// queued before it; `Err(cmd)` when it must be queued, `Ok(false)` when the driver
    /// has stopped.
    fn direct(&self, cmd: Command) -> core::result::Result<bool, Command> {
        let Some(direct) = self.state.direct.get() else {
            return Err(cmd);
        };
        if self.state.queued.load(Ordering::Acquire) != 0 {
            return Err(cmd);
        }
        match direct.try_direct(cmd) {
            Direct::Done => Ok(true),
            Direct::Closed => Ok(false),
            Direct::Busy(cmd) => Err(cmd),
        }
    }

    /// Queues `cmd` for the driver (waiting for room, first come first served).
    async fn queue(&self, cmd: Command) -> Result<()> {
        let mut counted = Queued::new(&self.state.queued);
        self.tx.send(cmd).await.map_err(|_| Error::Shutdown)?;
        counted.1 = true;
        Ok(())
    }

    /// Queues `cmd` for the driver if there is room now.
    fn try_queue(
        &self,
        cmd: Command,
    ) -> core::result::Result<(), mpsc::error::TrySendError<Command>> {
        let mut counted = Queued::new(&self.state.queued);
        self.tx.try_send(cmd)?;
        counted.1 = true;
        Ok(())
    }

    /// The direct path when possible, the queue otherwise.
    async fn submit(&self, cmd: Command) -> Result<()> {
        match self.direct(cmd) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::Shutdown),
            Err(cmd) => self.queue(cmd).await,
        }
    }
}

/// Closes a core when the driver's future ends or is dropped.
struct CloseOnDrop<'a, S: SecurityLayer>(&'a Shared<S>);

impl<S: SecurityLayer> Drop for CloseOnDrop<'_, S> {
    fn drop(&mut self) {
        let endpoint = self
            .0
            .core
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .close();
        drop(endpoint);
    }
}

/// The loop shared by [`Server::serve`] and [`ClientDriver::run`]. Datagrams from
/// `multicast` sockets are fed as multicast requests; everything is sent from the
/// shared socket. Each input is one [`Shared::section`]; the one timer is re-armed only
/// when its instant changes.
async fn drive<S: SecurityLayer>(
    shared: Arc<Shared<S>>,
    multicast: Vec<UdpSocket>,
    link: Arc<LinkState>,
    mut commands: mpsc::Receiver<Command>,
) -> Result<()> {
    // From now on handles may hand their work to the engine directly; if this future is
    // dropped before it ends (task aborted, runtime shut down), the guard closes the core
    // so that waiting requests fail with `Shutdown` and direct hand-overs stop.
    let _ = link.direct.set(shared.clone());
    let _close = CloseOnDrop(&shared);
    let socket = &shared.socket;
    let mut recv_buf = vec![0u8; 65_535];
    let mut mcast_buf = vec![0u8; 65_535];
    let sleep = tokio::time::sleep(core::time::Duration::from_secs(86_400));
    tokio::pin!(sleep);
    let mut timer: Option<std::time::Instant> = None;
    // What was queued before the driver started (e.g. a request from a handle).
    let mut target = shared.section(true, |_| ()).timer;
    loop {
        if target != timer {
            if let Some(t) = target {
                sleep.as_mut().reset(tokio::time::Instant::from_std(t));
            }
            timer = target;
        }
        let blocked = shared.backed_up.load(Ordering::Acquire);
        target = tokio::select! {
            r = socket.readable(), if !blocked => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "socket not readable");
                }
                let mut target = timer;
                for _ in 0..BATCH {
                    match socket.try_recv_from(&mut recv_buf) {
                        Ok((n, from)) => {
                            target = shared.section(true, |core| {
                                if let Some(endpoint) = core.endpoint.as_mut() {
                                    let _ = endpoint.handle_datagram(std_now(), from, recv_buf.get(..n).unwrap_or_default());
                                }
                            }).timer;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        // ICMP errors (e.g. port unreachable) surface here on some systems;
                        // the engine's timers deal with the consequences.
                        Err(e) => tracing::debug!(error = %e, "recv failed"),
                    }
                    if shared.backed_up.load(Ordering::Acquire) {
                        break;
                    }
                }
                target
            },
            r = recv_any(&multicast, &mut mcast_buf), if !multicast.is_empty() && !blocked => match r {
                Ok((n, from)) => shared.section(true, |core| {
                    if let Some(endpoint) = core.endpoint.as_mut() {
                        let _ = endpoint.handle_multicast_datagram(std_now(), from, mcast_buf.get(..n).unwrap_or_default());
                    }
                }).timer,
                Err(e) => {
                    tracing::debug!(error = %e, "multicast recv failed");
                    timer
                }
            },
            () = &mut sleep, if timer.is_some() => {
                timer = None;
                shared.section(true, |core| {
                    core.armed = None;
                    if let Some(endpoint) = core.endpoint.as_mut() {
                        endpoint.handle_timeout(std_now());
                    }
                }).timer
            },
            r = socket.writable(), if blocked => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "socket not writable");
                }
                shared.flush();
                // What the engine produced meanwhile.
                shared.section(true, |_| ()).timer
            },
            // A handle moved the engine's next timeout earlier, or the socket backed up.
            () = shared.wake.notified() => shared.section(true, |_| ()).timer,
            cmd = commands.recv(), if !blocked => {
                let done = shared.section(true, |core| {
                    let now = std_now();
                    // Uncounted once applied, under the lock: a direct hand-over that
                    // sees no queued command finds this one in the engine already.
                    let mut apply = |cmd| {
                        let go_on = core.apply(now, cmd);
                        link.queued.fetch_sub(1, Ordering::AcqRel);
                        go_on
                    };
                    if !cmd.is_some_and(&mut apply) {
                        return true;
                    }
                    for _ in 1..BATCH {
                        match commands.try_recv() {
                            Ok(cmd) => {
                                if !apply(cmd) {
                                    return true;
                                }
                            }
                            Err(mpsc::error::TryRecvError::Empty) => return false,
                            Err(mpsc::error::TryRecvError::Disconnected) => return true,
                        }
                    }
                    false
                });
                if done.value {
                    break;
                }
                done.timer
            }
        };
    }
    // Send what is queued (e.g. the last ACKs) before stopping, then drop the engine.
    let endpoint = shared
        .section(false, |core| {
            core.pump();
            core.close()
        })
        .value;
    let unsent = {
        let mut out = shared
            .outgoing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        out.unsent.drain(..).collect::<Vec<_>>()
    };
    for (to, bytes) in unsent {
        let _ = socket.send_to(&bytes, to).await;
    }
    drop(endpoint);
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
    link: Link,
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
        let (link, rx) = Link::new(256);
        Self {
            socket,
            multicast: Vec::new(),
            endpoint,
            link,
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
            link: self.link.clone(),
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
            link,
            rx,
        } = self;
        // The server keeps one sender so that it serves even without handles.
        let state = link.state.clone();
        let _keep = link;
        let multicast = multicast
            .into_iter()
            .map(UdpSocket::from_std)
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| io_err(&e))?;
        drive(
            Arc::new(Shared::new(socket, endpoint)),
            multicast,
            state,
            rx,
        )
        .await
    }
}

/// Controls a running [`Server`].
#[derive(Debug, Clone)]
pub struct ServerHandle {
    link: Link,
}

impl ServerHandle {
    /// Tells the server that the resource at `path` changed; returns how many observers
    /// were notified.
    ///
    /// # Errors
    /// [`Error::Shutdown`] when the server has stopped.
    pub async fn notify(&self, path: &str) -> Result<usize> {
        let (reply, rx) = oneshot::channel();
        self.link
            .queue(Command::Notify(path.to_owned(), reply))
            .await?;
        rx.await.map_err(|_| Error::Shutdown)
    }

    /// Answers a request a resource deferred with [`crate::Handled::Deferred`]. While the
    /// server runs, the response is handed to the engine and sent from the calling task
    /// (no wake-up of the server task); see the [module docs](self).
    ///
    /// # Errors
    /// [`Error::Shutdown`] when the server has stopped.
    pub async fn respond(&self, id: RequestId, response: Message) -> Result<()> {
        self.link.submit(Command::Respond(id, response)).await
    }

    /// Like [`ServerHandle::respond`] but from synchronous code (a resource handler).
    /// Called from inside a handler, it queues the response for the server task (which
    /// handles it right after the handler returns); elsewhere it takes the direct path
    /// like [`ServerHandle::respond`].
    ///
    /// # Errors
    /// [`Error::Shutdown`] when the server stopped, [`Error::LimitReached`] when the
    /// command queue is full.
    pub fn try_respond(&self, id: RequestId, response: Message) -> Result<()> {
        let cmd = match self.link.direct(Command::Respond(id, response)) {
            Ok(true) => return Ok(()),
            Ok(false) => return Err(Error::Shutdown),
            Err(cmd) => cmd,
        };
        self.link.try_queue(cmd).map_err(|e| match e {
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
            link: self.link.clone(),
            local: None,
        }
    }

    /// Stops the server; [`Server::serve`] returns.
    pub async fn shutdown(&self) {
        let _ = self.link.queue(Command::Shutdown).await;
    }
}

/// An async CoAP client. Cheap to clone; all clones share one socket and one engine,
/// pumped by the [`ClientDriver`] returned from [`Client::bind`].
#[derive(Debug, Clone)]
pub struct Client {
    link: Link,
    local: Option<SocketAddr>,
}

/// Pumps a [`Client`]'s engine; it ends when every [`Client`] clone is dropped.
#[must_use = "the client does nothing unless the driver runs (spawn `driver.run()`)"]
pub struct ClientDriver {
    socket: UdpSocket,
    endpoint: Endpoint<PlainCoap>,
    rx: mpsc::Receiver<Command>,
    link: Arc<LinkState>,
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
        let shared = Arc::new(Shared::new(self.socket, self.endpoint));
        drive(shared, Vec::new(), self.link, self.rx).await
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
        let (link, rx) = Link::new(256);
        let endpoint = Endpoint::new(config, Router::new(), fresh_seed());
        let state = link.state.clone();
        Ok((
            Self { link, local },
            ClientDriver {
                socket,
                endpoint,
                rx,
                link: state,
            },
        ))
    }

    /// The bound address (`None` for a client borrowed from a server).
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// Sends `message` to `peer` and waits for the final response (block-wise
    /// transfers in either direction are done transparently). While the driver runs, the
    /// request is handed to the engine and its first datagram sent from the calling task;
    /// see the [module docs](self).
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
        let cmd = Command::Request {
            peer,
            message,
            confirmable,
            reply,
        };
        // Straight into the engine and onto the socket from this task when the engine is
        // free; through the driver's queue otherwise.
        self.link.submit(cmd).await?;
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
        self.link
            .queue(Command::Multicast {
                group,
                message,
                collect_for,
                reply,
            })
            .await?;
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
        self.link
            .queue(Command::Observe {
                peer,
                message,
                updates,
                reply,
            })
            .await?;
        let handle = rx.await.map_err(|_| Error::Shutdown)??;
        Ok(Observation {
            handle,
            rx: updates_rx,
            link: self.link.clone(),
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
    link: Link,
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
        self.link.queue(Command::CancelObserve(self.handle)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what reaches it through the direct path.
    struct Recorder(Mutex<Vec<u64>>);

    impl DirectPath for Recorder {
        fn try_direct(&self, cmd: Command) -> Direct {
            if let Command::Respond(id, _) = cmd {
                self.0.lock().unwrap().push(id.0);
            }
            Direct::Done
        }
    }

    fn respond(id: u64) -> Command {
        Command::Respond(RequestId(id), Message::new(Code::CONTENT))
    }

    /// Commands reach the engine in the order they were issued: nothing takes the direct
    /// path while an earlier command waits in the queue (or before the driver runs).
    #[test]
    fn nothing_overtakes_a_queued_command() {
        let (link, mut rx) = Link::new(4);
        assert!(link.direct(respond(1)).is_err(), "driver not running yet");
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        assert!(link.state.direct.set(recorder.clone()).is_ok());
        assert!(matches!(link.direct(respond(2)), Ok(true)));

        assert!(link.try_queue(respond(3)).is_ok());
        assert!(
            link.direct(respond(4)).is_err(),
            "must queue behind command 3"
        );
        // The driver applies command 3 and uncounts it.
        assert!(rx.try_recv().is_ok());
        link.state.queued.fetch_sub(1, Ordering::AcqRel);
        assert!(matches!(link.direct(respond(5)), Ok(true)));
        assert_eq!(*recorder.0.lock().unwrap(), vec![2, 5]);

        // A command that never reached the queue is not counted.
        drop(rx);
        assert!(link.try_queue(respond(6)).is_err());
        assert_eq!(link.state.queued.load(Ordering::Acquire), 0);
    }
}
