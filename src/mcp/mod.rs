//! `wadm mcp`: an MCP server on stdio (the official Rust SDK, `rmcp`) whose tools read a
//! WADM daemon's REST API, so an LLM client reads volume profile and order flow as tools.
//!
//! - [`client`]: the API client (deadline, bounded body, typed errors).
//! - [`tools`]: the tools, their argument schemas, the request each makes, their units.
//!
//! A tool's answer is compact JSON: `{"request": "GET /api/v1/...", "units": {...},
//! "data": <the API's answer>}`; the API's answer already names its venue and the parameters
//! it was computed with. A failure is a tool error (`isError`) whose text is
//! `{"error": {"code", "message", ...}}`: the API's own code and message when it refused, or
//! `api_unreachable`, `api_timeout`, `bad_api_response`, `response_too_large`,
//! `bad_parameter`. The server itself never stops on a failed call; it ends when the client
//! closes stdin. Its logs go to stderr (stdout is the protocol).

pub mod client;
pub mod tools;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt as _};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use client::{ApiClient, ApiError, ApiRequest};
use tools::{ArgError, Plan, ToolDef};

/// What the model reads about the server as a whole.
pub const INSTRUCTIONS: &str = "WADM collects trades, order books and candles from Binance \
(spot, USD-M futures) and Bybit (spot, linear futures) and computes volume profile and order \
flow per symbol and venue in real time. Start with list_symbols. Prices and volumes are exact \
decimal strings (price in the quote currency, volume in the base asset); times are Unix \
milliseconds, UTC; lists are oldest first. Time arguments also take UTC date-times and \
now-<duration> such as now-6h. Every answer names the venue and parameters it was computed \
with. Before trusting data around a time, get_data_gaps tells whether trades may be missing; \
get_collector_status tells whether collection is healthy.";

/// The MCP server: the tools, answered from one daemon's API.
#[derive(Debug, Clone)]
pub struct WadmMcp {
    client: Arc<ApiClient>,
    tools: Arc<[Tool]>,
}

impl WadmMcp {
    /// A server answering from the API `client` talks to.
    pub fn new(client: ApiClient) -> anyhow::Result<Self> {
        let tools = tools::TOOLS
            .iter()
            .map(|def| {
                def.tool()
                    .map_err(|err| anyhow::anyhow!("tool {}: {err}", def.name))
            })
            .collect::<anyhow::Result<Vec<Tool>>>()?;
        Ok(Self {
            client: Arc::new(client),
            tools: tools.into(),
        })
    }

    /// The listed tools.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// Runs tool `def` with `arguments`: its data, or the tool error the model reads.
    pub async fn call(&self, def: &ToolDef, arguments: JsonObject) -> CallToolResult {
        let started = Instant::now();
        let outcome = match def.plan(arguments, tools::now()) {
            Ok(plan) => self.run(&plan).await.map_err(|(request, err)| {
                warn!(tool = def.name, %request, code = err.code(), error = %err, "tool call failed");
                error_body(&err, Some(&request))
            }),
            Err(err) => {
                warn!(tool = def.name, parameter = %err.parameter, error = %err.message, "tool arguments refused");
                Err(argument_error(&err))
            }
        };
        debug!(tool = def.name, ok = outcome.is_ok(), elapsed = ?started.elapsed(), "tool call");
        match outcome {
            Ok((request, data)) => CallToolResult::structured(json!({
                "request": request,
                "units": def.units(),
                "data": data,
            })),
            Err(body) => {
                let mut result = CallToolResult::error(vec![ContentBlock::text(body.to_string())]);
                result.structured_content = Some(body);
                result
            }
        }
    }

    /// Makes the plan's requests: (what was asked, the data), or (what failed, why).
    async fn run(&self, plan: &Plan) -> Result<(String, Value), (String, ApiError)> {
        match plan {
            Plan::One(request) => {
                let shown = request.describe();
                match self.client.get(request).await {
                    Ok(data) => Ok((shown, data)),
                    Err(err) => Err((shown, err)),
                }
            }
            Plan::Status(detail) => {
                let health = ApiRequest::new(&["health"]);
                let status = ApiRequest::new(&["api", "v1", "status"]);
                let (health_answer, status_answer) =
                    tokio::join!(self.client.health(), self.client.get(&status));
                let health_answer = health_answer.map_err(|err| (health.describe(), err))?;
                let status_answer = status_answer.map_err(|err| (status.describe(), err))?;
                Ok((
                    format!("{} + {}", health.describe(), status.describe()),
                    tools::status_data(*detail, health_answer, status_answer),
                ))
            }
        }
    }
}

/// `{"error": {...}}` for a failed request.
fn error_body(err: &ApiError, request: Option<&str>) -> Value {
    let mut error = json!({ "code": err.code(), "message": err.to_string() });
    if let Some(status) = err.status() {
        error["http_status"] = json!(status);
    }
    if let Some(seconds) = err.retry_after() {
        error["retry_after_seconds"] = json!(seconds);
    }
    if let Some(request) = request {
        error["request"] = json!(request);
    }
    json!({ "error": error })
}

/// `{"error": {...}}` for refused arguments: the API's `bad_parameter`, before any request.
fn argument_error(err: &ArgError) -> Value {
    json!({ "error": {
        "code": "bad_parameter",
        "message": err.to_string(),
        "parameter": err.parameter,
    }})
}

impl ServerHandler for WadmMcp {
    fn get_info(&self) -> ServerConfig {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("wadm", env!("CARGO_PKG_VERSION"))
                    .with_title("WADM market data (volume profile, order flow)"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.to_vec()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // An unknown tool is a protocol error (the client asked for something not listed).
        let Some(def) = tools::find(&request.name) else {
            warn!(tool = %request.name, "unknown tool called");
            let names: Vec<&str> = tools::TOOLS.iter().map(|t| t.name).collect();
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown tool {:?}; the tools are {}",
                    request.name,
                    names.join(", ")
                ),
                None,
            ));
        };
        Ok(self
            .call(def, request.arguments.unwrap_or_default())
            .await
            .into())
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|tool| tool.name == name).cloned()
    }
}

/// Serves MCP on stdin/stdout with tools answered by `client`'s API, until the client closes
/// the session.
pub async fn serve(client: ApiClient) -> anyhow::Result<()> {
    let base = client.base().to_string();
    if client.keyed()
        && client.base().scheme() == "http"
        && !client
            .base()
            .host_str()
            .is_some_and(|h| matches!(h, "localhost" | "127.0.0.1" | "[::1]"))
    {
        warn!(api = %base, "the API key travels unencrypted over http to a host that is not this one; use https");
    }
    let server = WadmMcp::new(client)?;
    info!(api = %base, tools = server.tools().len(), "MCP server on stdio");
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .context("the MCP session did not start")?;
    let reason = running
        .waiting()
        .await
        .context("the MCP session ended abnormally")?;
    info!(?reason, "MCP session closed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;

    /// A one-shot HTTP server on 127.0.0.1 answering every request with `answer` (or never,
    /// for `None`); returns its URL.
    async fn server(answer: Option<Vec<u8>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut request = vec![0; 4096];
                    let _ = socket.read(&mut request).await;
                    match answer {
                        Some(answer) => {
                            let _ = socket.write_all(&answer).await;
                            let _ = socket.shutdown().await;
                        }
                        // Hold the connection open without answering until the client leaves.
                        None => {
                            let _ = socket.read(&mut request).await;
                        }
                    }
                });
            }
        });
        url
    }

    fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
        let mut answer = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(body);
        answer
    }

    async fn error_of(client: ApiClient, tool: &str, arguments: Value) -> Value {
        let server = WadmMcp::new(client).unwrap();
        let Value::Object(arguments) = arguments else {
            panic!("arguments are an object: {arguments}");
        };
        let result = server.call(tools::find(tool).unwrap(), arguments).await;
        assert_eq!(result.is_error, Some(true), "{result:?}");
        let text = result.content[0].as_text().unwrap().text.clone();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(Some(&body), result.structured_content.as_ref());
        body["error"].clone()
    }

    fn client(url: &str, timeout: Duration) -> ApiClient {
        ApiClient::new(url, Some("wadm_test"), timeout).unwrap()
    }

    #[tokio::test]
    async fn transport_failures_are_tool_errors_with_their_own_codes() {
        let second = Duration::from_secs(5);
        // Nothing listens: the port of a listener that was dropped.
        let closed = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            format!("http://{}", listener.local_addr().unwrap())
        };
        let error = error_of(client(&closed, second), "list_symbols", json!({})).await;
        assert_eq!(error["code"], "api_unreachable");
        assert_eq!(error["request"], "GET /api/v1/symbols");
        assert!(
            error["message"].as_str().unwrap().contains(&closed),
            "{error}"
        );

        let silent = server(None).await;
        let error = error_of(
            client(&silent, Duration::from_millis(200)),
            "get_order_book",
            json!({"symbol": "BTCUSDT"}),
        )
        .await;
        assert_eq!(error["code"], "api_timeout", "{error}");

        let proxy = server(Some(http(
            "502 Bad Gateway",
            "",
            b"<html>bad gateway</html>",
        )))
        .await;
        let error = error_of(client(&proxy, second), "list_symbols", json!({})).await;
        assert_eq!(error["code"], "bad_api_response");
        assert_eq!(error["http_status"], 502);
        assert!(
            error["message"].as_str().unwrap().contains("bad gateway"),
            "{error}"
        );

        let not_json = server(Some(http("200 OK", "", b"ok"))).await;
        let error = error_of(client(&not_json, second), "list_symbols", json!({})).await;
        assert_eq!(error["code"], "bad_api_response");

        let huge = server(Some(http("200 OK", "", &vec![b' '; 64 * 1024]))).await;
        let error = error_of(
            client(&huge, second).with_max_body(1024),
            "list_symbols",
            json!({}),
        )
        .await;
        assert_eq!(error["code"], "response_too_large");
    }

    #[tokio::test]
    async fn api_refusals_keep_the_api_code_message_and_retry_time() {
        let limited = server(Some(http(
            "429 Too Many Requests",
            "retry-after: 7\r\ncontent-type: application/json\r\n",
            br#"{"error":{"code":"rate_limited","message":"too many requests"}}"#,
        )))
        .await;
        let error = error_of(
            client(&limited, Duration::from_secs(5)),
            "get_volume_profile",
            json!({"symbol": "BTCUSDT", "window": "4h"}),
        )
        .await;
        assert_eq!(
            error,
            json!({
                "code": "rate_limited",
                "message": "too many requests",
                "http_status": 429,
                "retry_after_seconds": 7,
                "request": "GET /api/v1/volume-profile/BTCUSDT?window=4h",
            })
        );
        // A 503 health answer is an answer (every feed down), not an error.
        let down = server(Some(http(
            "503 Service Unavailable",
            "",
            br#"{"status":"down","reasons":["no feed"],"time":1,"actors":[]}"#,
        )))
        .await;
        let health = client(&down, Duration::from_secs(5))
            .health()
            .await
            .unwrap();
        assert_eq!(health["status"], "down");
    }
}
