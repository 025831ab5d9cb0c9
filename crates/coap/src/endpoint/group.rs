//! Client side of CoAP group communication (RFC 7252 §8, draft-ietf-core-groupcomm-bis
//! §3): a NON request to a multicast address, answered by any number of servers, each
//! response matched by token alone (it comes from the server's unicast address), all of
//! them collected until a deadline.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Endpoint, Event, RequestHandle};
use crate::config::later;
use crate::consts::option;
use crate::error::{Error, Limit, Result};
use crate::message::{Frame, Message, MessageType};
use crate::security::SecurityLayer;

#[derive(Debug)]
pub(crate) struct GroupExchange {
    token: Vec<u8>,
    pub(crate) deadline: Instant,
    responses: usize,
}

impl<S: SecurityLayer> Endpoint<S> {
    /// Sends `request` as a NON message to the multicast address `group` (RFC 7252 §8.1)
    /// and collects responses for `collect_for`: each arrives as [`Event::GroupResponse`]
    /// with the responding server's unicast address; [`Event::GroupDone`] ends the
    /// collection (later responses are rejected as unknown). There is no retransmission
    /// and no block-wise transfer: the request must fit one message, and a response that
    /// is the first block of a larger body (Block2) is delivered as it is.
    ///
    /// # Errors
    /// [`Error::Misuse`] for a code that is not a request method, a unicast `group`
    /// address, or an Observe option; [`Error::MessageTooLarge`] when the request does not
    /// fit one message; [`Error::LimitReached`] when `max_client_exchanges` are in use;
    /// [`Error::MessageIdsExhausted`] when no Message ID towards `group` is free.
    pub fn multicast_request(
        &mut self,
        now: Instant,
        group: SocketAddr,
        request: Message,
        collect_for: core::time::Duration,
    ) -> Result<RequestHandle> {
        if !request.code.is_request() {
            return Err(Error::Misuse("not a request method"));
        }
        if !group.ip().is_multicast() {
            return Err(Error::Misuse("not a multicast address"));
        }
        if request.options.contains(option::OBSERVE) {
            return Err(Error::Misuse("group observe is not supported"));
        }
        if self.exchanges.len() + self.groups.len() >= self.config.max_client_exchanges {
            return Err(Error::LimitReached(Limit::ClientExchanges));
        }
        let token = loop {
            let t = self.random_token();
            if !self.group_tokens.contains_key(&t) {
                break t;
            }
        };
        if self.mids.check(now, group, self.config.max_peers).is_err() {
            self.stats.message_ids_exhausted += 1;
            return Err(Error::MessageIdsExhausted);
        }
        // Encode with a placeholder ID first so that an oversized request consumes no ID.
        let mut frame = Frame {
            mtype: MessageType::NonConfirmable,
            mid: 0,
            token: token.clone(),
            msg: request,
        };
        frame.encode(self.config.max_message_size)?;
        frame.mid = self
            .alloc_mid(now, group, false)
            .map_err(|_| Error::MessageIdsExhausted)?;
        let bytes = frame.encode(self.config.max_message_size)?;
        let h = self.next_id();
        self.group_tokens.insert(token.clone(), h);
        self.groups.insert(
            h,
            GroupExchange {
                token,
                deadline: later(now, collect_for),
                responses: 0,
            },
        );
        self.send(group, bytes);
        Ok(RequestHandle(h))
    }

    pub(super) fn on_group_response(&mut self, h: u64, from: SocketAddr, response: Message) {
        let Some(g) = self.groups.get_mut(&h) else {
            return;
        };
        g.responses += 1;
        self.events.push_back(Event::GroupResponse {
            handle: RequestHandle(h),
            from,
            response,
        });
    }

    /// Ends a group request early (no [`Event::GroupDone`]). Returns whether it existed.
    pub(super) fn forget_group(&mut self, h: u64) -> bool {
        match self.groups.remove(&h) {
            Some(g) => {
                self.group_tokens.remove(&g.token);
                true
            }
            None => false,
        }
    }

    pub(super) fn group_timeouts(&mut self, now: Instant) {
        let mut done: Vec<(Instant, u64)> = self
            .groups
            .iter()
            .filter(|(_, g)| g.deadline <= now)
            .map(|(h, g)| (g.deadline, *h))
            .collect();
        done.sort_unstable();
        for (_, h) in done {
            if let Some(g) = self.groups.remove(&h) {
                self.group_tokens.remove(&g.token);
                self.events.push_back(Event::GroupDone {
                    handle: RequestHandle(h),
                    responses: g.responses,
                });
            }
        }
    }
}
