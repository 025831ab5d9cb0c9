//! A server's set of security contexts, looked up by kid and kid context (RFC 8613 §8.2
//! step 2).

use alloc::vec::Vec;

use ace_crypto::AeadBackend;

use crate::context::SecurityContext;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::protect::{RequestOutcome, oscore_option_of};

/// Contexts a server accepts requests for.
#[derive(Debug)]
pub struct ContextSet<B> {
    contexts: Vec<SecurityContext<B>>,
}

impl<B> Default for ContextSet<B> {
    fn default() -> Self {
        Self {
            contexts: Vec::new(),
        }
    }
}

impl<B: AeadBackend> ContextSet<B> {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a context; returns its index.
    pub fn insert(&mut self, ctx: SecurityContext<B>) -> usize {
        self.contexts.push(ctx);
        self.contexts.len() - 1
    }

    /// The context at `index`.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<&SecurityContext<B>> {
        self.contexts.get(index)
    }

    /// The context at `index`, mutably.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut SecurityContext<B>> {
        self.contexts.get_mut(index)
    }

    /// Removes and returns the context at `index` (later indices shift down).
    pub fn remove(&mut self, index: usize) -> Option<SecurityContext<B>> {
        (index < self.contexts.len()).then(|| self.contexts.remove(index))
    }

    /// Number of contexts.
    #[must_use]
    pub fn len(&self) -> usize {
        self.contexts.len()
    }

    /// Whether there is no context.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }

    /// The index of the context whose Recipient ID is `kid` and, when `kid_context` is
    /// given, whose ID Context equals it.
    #[must_use]
    pub fn find(&self, kid: &[u8], kid_context: Option<&[u8]>) -> Option<usize> {
        self.contexts
            .iter()
            .position(|c| c.matches(kid, kid_context))
    }

    /// The index of the first context for which `pred` holds.
    pub fn position(&self, pred: impl FnMut(&SecurityContext<B>) -> bool) -> Option<usize> {
        self.contexts.iter().position(pred)
    }

    /// Replaces the context at `index` (when given and present) with `ctx`, or adds `ctx`;
    /// returns the index of `ctx` (e.g. for [`crate::rederive::ServerStep::Completed`]).
    pub fn install(&mut self, replaces: Option<usize>, ctx: SecurityContext<B>) -> usize {
        match replaces.and_then(|i| self.contexts.get_mut(i).map(|slot| (i, slot))) {
            Some((i, slot)) => {
                *slot = ctx;
                i
            }
            None => self.insert(ctx),
        }
    }

    /// Decodes the OSCORE option, finds the context and verifies the request with it.
    /// Returns the context index (use it to protect the response).
    ///
    /// # Errors
    /// As [`SecurityContext::unprotect_request`]; [`Error::ContextNotFound`] when no context
    /// matches.
    pub fn unprotect_request(&mut self, request: &Message) -> Result<(usize, RequestOutcome)> {
        let opt = oscore_option_of(request)?;
        let kid = opt
            .kid
            .as_deref()
            .ok_or(crate::error::DecodeError::MissingKid)?;
        let index = self
            .find(kid, opt.kid_context.as_deref())
            .ok_or(Error::ContextNotFound)?;
        let ctx = self.contexts.get_mut(index).ok_or(Error::ContextNotFound)?;
        Ok((index, ctx.unprotect_request_with(request, opt)?))
    }
}
