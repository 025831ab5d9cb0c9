//! Path → resource routing, 4.04/4.05, and `/.well-known/core` (RFC 6690).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::consts::content_format;
use crate::message::{Code, Message};
use crate::resource::{Handled, Request, Resource};

/// The path of the link-format discovery resource (RFC 6690 §4).
pub const WELL_KNOWN_CORE: &str = "/.well-known/core";

struct Mount {
    resource: Box<dyn Resource>,
    subtree: bool,
}

/// Maps paths to [`Resource`]s.
///
/// Lookup: an exact mount wins; otherwise the longest subtree mount that is a
/// prefix (at a segment boundary) of the path. No match → 4.04 Not Found; a method
/// the resource does not list → 4.05 Method Not Allowed. GET `/.well-known/core` is
/// answered from the mounted resources' [`crate::LinkAttributes`] unless a resource
/// is mounted there.
#[derive(Default)]
pub struct Router {
    mounts: BTreeMap<String, Mount>,
}

impl core::fmt::Debug for Router {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Router")
            .field("paths", &self.mounts.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn normalize(path: &str) -> String {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", segs.join("/"))
}

impl Router {
    /// An empty router (everything is 4.04 except `/.well-known/core`).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Mounts `resource` at exactly `path` (replacing what was there).
    #[must_use]
    pub fn mount(mut self, path: &str, resource: impl Resource + 'static) -> Self {
        self.insert(path, Box::new(resource), false);
        self
    }

    /// Mounts `resource` at `path` and every path below it (`/kdc` serves `/kdc/g1/nodes`).
    #[must_use]
    pub fn mount_subtree(mut self, path: &str, resource: impl Resource + 'static) -> Self {
        self.insert(path, Box::new(resource), true);
        self
    }

    /// Mounts a boxed resource (for dynamic registration).
    pub fn insert(&mut self, path: &str, resource: Box<dyn Resource>, subtree: bool) {
        self.mounts
            .insert(normalize(path), Mount { resource, subtree });
    }

    /// Removes the resource at `path`; returns whether one was mounted.
    pub fn remove(&mut self, path: &str) -> bool {
        self.mounts.remove(&normalize(path)).is_some()
    }

    fn find(&mut self, path: &str) -> Option<&mut Mount> {
        if self.mounts.contains_key(path) {
            return self.mounts.get_mut(path);
        }
        let mut best: Option<String> = None;
        for (p, m) in &self.mounts {
            let is_prefix = p == "/"
                || (path.starts_with(p.as_str())
                    && path.as_bytes().get(p.len()).is_some_and(|b| *b == b'/'));
            if m.subtree && is_prefix && best.as_ref().is_none_or(|b| b.len() < p.len()) {
                best = Some(p.clone());
            }
        }
        best.and_then(move |b| self.mounts.get_mut(&b))
    }

    /// Whether GET with Observe on `path` may register an observer.
    pub(crate) fn is_observable(&mut self, path: &str) -> bool {
        self.find(path).is_some_and(|m| m.resource.observable())
    }

    /// Routes a request to its resource.
    pub fn route(&mut self, request: &Request) -> Handled {
        let path = request.path().to_owned();
        match self.find(&path) {
            Some(m) => {
                if m.resource.allowed_methods().contains(&request.method()) {
                    m.resource.handle(request)
                } else {
                    Handled::Response(Message::new(Code::METHOD_NOT_ALLOWED))
                }
            }
            None if path == WELL_KNOWN_CORE => {
                if request.method() == Code::GET {
                    Handled::Response(
                        Message::response(
                            Code::CONTENT,
                            self.link_format(&request.message.queries()),
                        )
                        .with_content_format(content_format::LINK_FORMAT),
                    )
                } else {
                    Handled::Response(Message::new(Code::METHOD_NOT_ALLOWED))
                }
            }
            None => Handled::Response(Message::new(Code::NOT_FOUND)),
        }
    }

    /// The `/.well-known/core` document (RFC 6690 §5), filtered by queries of the
    /// form `href=…`, `rt=…`, `if=…`, `ct=…` (a trailing `*` matches a prefix, §4.1).
    #[must_use]
    pub fn link_format(&self, queries: &[&str]) -> String {
        let mut out = String::new();
        for (path, m) in &self.mounts {
            let a = m.resource.link_attributes();
            if a.hidden || path == WELL_KNOWN_CORE {
                continue;
            }
            let ct: Vec<String> = a.content_formats.iter().map(u16::to_string).collect();
            let passes = queries.iter().all(|q| {
                let (k, v) = q.split_once('=').unwrap_or((q, ""));
                let matches = |candidate: &str| match v.strip_suffix('*') {
                    Some(prefix) => candidate.starts_with(prefix),
                    None => candidate == v,
                };
                match k {
                    "href" => matches(path),
                    "rt" => a.resource_types.iter().any(|s| matches(s)),
                    "if" => a.interfaces.iter().any(|s| matches(s)),
                    "ct" => ct.iter().any(|s| matches(s)),
                    "obs" => m.resource.observable(),
                    _ => true,
                }
            });
            if !passes {
                continue;
            }
            if !out.is_empty() {
                out.push(',');
            }
            let _ = write!(out, "<{path}>");
            if !a.resource_types.is_empty() {
                let _ = write!(out, ";rt=\"{}\"", a.resource_types.join(" "));
            }
            if !a.interfaces.is_empty() {
                let _ = write!(out, ";if=\"{}\"", a.interfaces.join(" "));
            }
            match ct.len() {
                0 => {}
                1 => {
                    let _ = write!(out, ";ct={}", ct.join(""));
                }
                _ => {
                    let _ = write!(out, ";ct=\"{}\"", ct.join(" "));
                }
            }
            if let Some(sz) = a.size {
                let _ = write!(out, ";sz={sz}");
            }
            if let Some(t) = &a.title {
                let _ = write!(out, ";title=\"{}\"", t.replace('"', "'"));
            }
            if m.resource.observable() {
                out.push_str(";obs");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{FnResource, PeerIdentity};

    fn req(method: Code, path: &str) -> Request {
        Request::new(
            Message::request(method, path),
            "127.0.0.1:5683".parse().unwrap(),
            PeerIdentity::Anonymous,
        )
        .unwrap()
    }

    fn ok(body: &'static str) -> impl FnMut(&Request) -> Handled + Send {
        move |_| Message::response(Code::CONTENT, body).into()
    }

    #[test]
    fn routes_404_405_and_subtree() {
        let mut r = Router::new()
            .mount("/a", FnResource::new(ok("a")))
            .mount_subtree("/kdc", FnResource::new(ok("kdc")))
            .mount("/kdc/x", FnResource::new(ok("x")).methods(&[Code::POST]));
        assert_eq!(
            r.route(&req(Code::GET, "/a")),
            Handled::Response(Message::response(Code::CONTENT, "a"))
        );
        assert_eq!(
            r.route(&req(Code::GET, "/b")),
            Handled::Response(Message::new(Code::NOT_FOUND))
        );
        assert_eq!(
            r.route(&req(Code::POST, "/a")),
            Handled::Response(Message::new(Code::METHOD_NOT_ALLOWED))
        );
        assert_eq!(
            r.route(&req(Code::GET, "/kdc/g1/nodes")),
            Handled::Response(Message::response(Code::CONTENT, "kdc"))
        );
        assert_eq!(
            r.route(&req(Code::GET, "/kdcx")),
            Handled::Response(Message::new(Code::NOT_FOUND))
        );
        // exact mount beats subtree, and enforces its own methods
        assert_eq!(
            r.route(&req(Code::GET, "/kdc/x")),
            Handled::Response(Message::new(Code::METHOD_NOT_ALLOWED))
        );
    }

    #[test]
    fn well_known_core_lists_attributes() {
        let mut r = Router::new()
            .mount(
                "/authz-info",
                FnResource::new(ok(""))
                    .methods(&[Code::POST])
                    .rt("ace.ai")
                    .ct(19),
            )
            .mount(
                "/temp",
                FnResource::new(ok("22"))
                    .rt("temperature-c")
                    .interface("sensor")
                    .ct(0)
                    .observable(),
            )
            .mount("/secret", FnResource::new(ok("")).hidden());
        let Handled::Response(resp) = r.route(&req(Code::GET, WELL_KNOWN_CORE)) else {
            panic!()
        };
        assert_eq!(resp.code, Code::CONTENT);
        assert_eq!(resp.content_format(), Some(40));
        assert_eq!(
            String::from_utf8(resp.payload).unwrap(),
            "</authz-info>;rt=\"ace.ai\";ct=19,</temp>;rt=\"temperature-c\";if=\"sensor\";ct=0;obs"
        );
        let Handled::Response(filtered) = r.route(&req(Code::GET, "/.well-known/core?rt=temp*"))
        else {
            panic!()
        };
        assert_eq!(
            String::from_utf8(filtered.payload).unwrap(),
            "</temp>;rt=\"temperature-c\";if=\"sensor\";ct=0;obs"
        );
        assert_eq!(
            r.route(&req(Code::POST, WELL_KNOWN_CORE)),
            Handled::Response(Message::new(Code::METHOD_NOT_ALLOWED))
        );
    }
}
