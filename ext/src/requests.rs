//! Answers to LIFESIGN requests. Every request is decoded by `lifesign-proto`, which checks
//! its length first; nothing here reads the request's bytes itself.

use crate::server::client::{Request, XError};
use lifesign_proto::ext::{self, QueryVersionReply, RequestError};

pub fn handle(request: &mut Request<'_>) -> Result<(), XError> {
    let order = request.byte_order();
    match ext::Request::parse(request.minor(), request.bytes(), order) {
        Ok(ext::Request::QueryVersion { .. }) => {
            let reply = QueryVersionReply {
                major: ext::MAJOR_VERSION,
                minor: ext::MINOR_VERSION,
            };
            request.reply(&reply.encode(request.sequence(), order));
            Ok(())
        }
        Err(RequestError::Length { .. }) => Err(XError::Length),
        Err(RequestError::UnknownOpcode(_)) => Err(XError::Request),
    }
}
