//! The gRPC codec Architect's SDKs speak: unary gRPC over HTTP/2 whose messages are JSON
//! documents instead of protobuf (routes like `/json.architect.Folio/AccountSummary`).
//!
//! It owns only the codec, shared by recon's Architect connector (fetch) and the simulator,
//! so both frame messages the same way. It passes bytes through untouched: the connector
//! stores each response body byte for byte in the snapshot, and parsing belongs to
//! normalize. It must not know any message type.

use bytes::{Buf, BufMut, Bytes};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// A JSON message: the document's bytes.
pub type Json = Bytes;

/// The codec: JSON bytes in, JSON bytes out.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

#[derive(Debug, Clone, Copy, Default)]
pub struct JsonEncoder;

#[derive(Debug, Clone, Copy, Default)]
pub struct JsonDecoder;

impl Codec for JsonCodec {
    type Encode = Json;
    type Decode = Json;
    type Encoder = JsonEncoder;
    type Decoder = JsonDecoder;

    fn encoder(&mut self) -> JsonEncoder {
        JsonEncoder
    }

    fn decoder(&mut self) -> JsonDecoder {
        JsonDecoder
    }
}

impl Encoder for JsonEncoder {
    type Item = Json;
    type Error = Status;

    fn encode(&mut self, item: Json, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for JsonDecoder {
    type Item = Json;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Json>, Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}

/// The content type Architect's JSON gRPC uses.
pub const CONTENT_TYPE: &str = "application/grpc+json";

/// Routes recon calls (and the simulator serves).
pub mod routes {
    pub const CREATE_JWT: &str = "/json.architect.Auth/CreateJwt";
    pub const ACCOUNTS: &str = "/json.architect.Accounts/Accounts";
    pub const ACCOUNT_SUMMARY: &str = "/json.architect.Folio/AccountSummary";
    pub const ACCOUNT_SUMMARIES: &str = "/json.architect.Folio/AccountSummaries";
}
