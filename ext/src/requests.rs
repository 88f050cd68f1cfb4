//! Answers to LIFESIGN requests. Every request is decoded by `lifesign-proto`, which checks
//! its length first; nothing here reads the request's bytes itself.

use crate::server::client::{Request, XError};
use crate::watch;
use lifesign_proto::ext::{self, ListClientsReply, QueryVersionReply, RequestError};

pub fn handle(request: &mut Request<'_>) -> Result<(), XError> {
    let order = request.byte_order();
    let decoded =
        ext::Request::parse(request.minor(), request.bytes(), order).map_err(|e| match e {
            RequestError::Length { .. } => XError::Length,
            RequestError::UnknownOpcode(_) => XError::Request,
            RequestError::Value(v) => XError::Value(v),
        })?;
    match decoded {
        ext::Request::QueryVersion { .. } => {
            let reply = QueryVersionReply {
                major: ext::MAJOR_VERSION,
                minor: ext::MINOR_VERSION,
            };
            request.reply(&reply.encode(request.sequence(), order));
        }
        ext::Request::Watch(asked) => {
            watch::opt_in(&mut request.client(), &asked).map_err(|refused| match refused {
                watch::Refused::Value(v) => XError::Value(v),
                watch::Refused::HostScope => XError::Access,
            })?
        }
        ext::Request::Unwatch => watch::opt_out(&mut request.client()),
        ext::Request::SelectEvents { mask } => {
            // The server had no event code left for the extension's event this generation.
            if crate::server::xevents::first_event().is_none() {
                return Err(XError::Implementation);
            }
            watch::select_events(&mut request.client(), mask)
        }
        ext::Request::ListClients => {
            let reply = ListClientsReply {
                json: watch::list_json(&mut request.client()),
            };
            request.reply(&reply.encode(request.sequence(), order));
        }
    }
    Ok(())
}
