//! Group rekeying with a grace period (draft §3.2.2 "New Security Context for the Group",
//! §12.5 "Update of Security Context and Key Rotation").
//!
//! # Why
//! After the Group Manager distributes a new Gid and Master Secret, members switch at
//! slightly different times: messages protected with the old keying material are still in
//! flight, and a late sender keeps using it for a moment (draft §12.5.1). A
//! [`GroupEndpoint`] therefore keeps the previous context for a grace period, *only to
//! verify* incoming messages; everything it sends uses the newest context, whose Sender
//! Sequence Number restarts at 0 under new keys. After the grace period, messages with the
//! old Gid fail with [`Error::StaleKeyingMaterial`]; Sender IDs the Group Manager did not
//! register for the new Gid fail with [`Error::UnknownSender`] (the credential store is
//! keyed by Gid).
//!
//! Time is `core::time::Duration` since an epoch the shell chooses (no clock in the core).

use alloc::vec::Vec;
use core::time::Duration;

use ace_oscore::Message;

use crate::consts::RETIRED_GIDS_KEPT;
use crate::context::{GroupBackend, GroupContext};
use crate::error::{Error, Result};
use crate::option::{GroupOption, raw_oscore_option};
use crate::protect::{
    ClientBinding, Mode, ProtectedRequest, ProtectedResponse, RequestMode, ServerBinding,
    VerifiedRequest, VerifiedResponse,
};

/// A group member: the latest Security Context plus, during a grace period, the previous one.
#[derive(Debug)]
pub struct GroupEndpoint<B> {
    current: GroupContext<B>,
    previous: Option<(GroupContext<B>, Duration)>,
    retired: Vec<Vec<u8>>,
}

impl<B: GroupBackend> GroupEndpoint<B> {
    /// An endpoint with one context.
    #[must_use]
    pub fn new(context: GroupContext<B>) -> Self {
        Self {
            current: context,
            previous: None,
            retired: Vec::new(),
        }
    }

    /// The latest context.
    #[must_use]
    pub fn current(&self) -> &GroupContext<B> {
        &self.current
    }

    /// The latest context, mutably.
    pub fn current_mut(&mut self) -> &mut GroupContext<B> {
        &mut self.current
    }

    /// The previous context, while its grace period lasts.
    #[must_use]
    pub fn previous(&self) -> Option<&GroupContext<B>> {
        self.previous.as_ref().map(|(c, _)| c)
    }

    /// Installs `new` as the latest context (draft §3.2.2). The current one is kept for
    /// verifying until `now + grace`; an older previous context is dropped at once.
    ///
    /// # Errors
    /// [`Error::Misuse`] if `new` has the same Gid as the current context (the Gid must
    /// change with the keying material, draft §11.2).
    pub fn rekey(&mut self, new: GroupContext<B>, now: Duration, grace: Duration) -> Result<()> {
        if new.gid() == self.current.gid() {
            return Err(Error::Misuse("rekeying needs a new Gid"));
        }
        let old = core::mem::replace(&mut self.current, new);
        if let Some((p, _)) = self.previous.take() {
            self.retire(p.gid().to_vec());
        }
        self.previous = Some((old, now.saturating_add(grace)));
        Ok(())
    }

    fn retire(&mut self, gid: Vec<u8>) {
        if self.retired.len() >= RETIRED_GIDS_KEPT {
            self.retired.remove(0);
        }
        self.retired.push(gid);
    }

    /// Drops the previous context once its grace period is over.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self
            .previous
            .as_ref()
            .is_some_and(|(_, until)| now >= *until)
            && let Some((p, _)) = self.previous.take()
        {
            self.retire(p.gid().to_vec());
        }
    }

    /// When the grace period of the previous context ends.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.previous.as_ref().map(|(_, until)| *until)
    }

    fn select(&mut self, now: Duration, gid: &[u8]) -> Result<&mut GroupContext<B>> {
        self.handle_timeout(now);
        if gid == self.current.gid() {
            return Ok(&mut self.current);
        }
        if let Some((p, _)) = self.previous.as_mut()
            && p.gid() == gid
        {
            return Ok(p);
        }
        if self.retired.iter().any(|g| g.as_slice() == gid) {
            return Err(Error::StaleKeyingMaterial);
        }
        Err(Error::ContextNotFound)
    }

    /// Protects a request with the latest context.
    ///
    /// # Errors
    /// As [`GroupContext::protect_request`].
    pub fn protect_request(
        &mut self,
        request: &Message,
        mode: &RequestMode,
    ) -> Result<ProtectedRequest> {
        self.current.protect_request(request, mode)
    }

    /// Verifies a request with the context its 'kid context' names: the latest, or the
    /// previous one during its grace period.
    ///
    /// # Errors
    /// [`Error::StaleKeyingMaterial`] for a retired Gid, [`Error::ContextNotFound`] for an
    /// unknown one; otherwise as [`GroupContext::unprotect_request`].
    pub fn unprotect_request(
        &mut self,
        now: Duration,
        request: &Message,
    ) -> Result<VerifiedRequest> {
        let raw = raw_oscore_option(request)?.to_vec();
        let opt = GroupOption::decode(&raw)?;
        let gid = opt
            .fields
            .kid_context
            .clone()
            .ok_or(Error::ContextNotFound)?;
        self.select(now, &gid)?
            .unprotect_request_with(request, &raw, opt)
    }

    /// Protects a response with the latest context (draft §6.3: always the latest Sender
    /// Context; a request verified with the previous context gets a fresh Partial IV and the
    /// new Gid).
    ///
    /// # Errors
    /// As [`GroupContext::protect_response`].
    pub fn protect_response(
        &mut self,
        binding: &mut ServerBinding,
        response: &Message,
        mode: Mode,
    ) -> Result<ProtectedResponse> {
        self.current.protect_response(binding, response, mode)
    }

    /// Verifies a response with the context its 'kid context' (or, without one, the
    /// request's Gid) names.
    ///
    /// # Errors
    /// As [`GroupEndpoint::unprotect_request`] and [`GroupContext::unprotect_response`].
    pub fn unprotect_response(
        &mut self,
        now: Duration,
        binding: &mut ClientBinding,
        response: &Message,
    ) -> Result<VerifiedResponse> {
        let raw = raw_oscore_option(response)?.to_vec();
        let opt = GroupOption::decode(&raw)?;
        let gid = opt
            .fields
            .kid_context
            .clone()
            .unwrap_or_else(|| binding.kid_context().to_vec());
        self.select(now, &gid)?
            .unprotect_response_with(binding, response, &raw, opt)
    }
}
