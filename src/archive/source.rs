//! Where the venues publish their daily trade archives, and fetching one: resumable (a
//! download cut short continues with an HTTP `Range` request) and verified against the
//! venue's `.CHECKSUM` file where it publishes one (Binance).
//!
//! | venue | file under the venue's `archive_url` | checksum |
//! |---|---|---|
//! | binance-spot | `data/spot/daily/aggTrades/<S>/<S>-aggTrades-<day>.zip` | `<file>.CHECKSUM` (SHA-256) |
//! | binance-usdm | `data/futures/um/daily/aggTrades/<S>/<S>-aggTrades-<day>.zip` | `<file>.CHECKSUM` |
//! | bybit-linear | `trading/<S>/<S><day>.csv.gz` | none published |
//! | bybit-spot | `spot/<S>/<S>_<day>.csv.gz` | none published |

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use url::Url;
use wadm_actors::model::{Symbol, Venue};

use super::ArchiveError;

/// How a day's file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// A zip holding one CSV (Binance).
    Zip,
    /// A gzip-compressed CSV (Bybit).
    Gzip,
}

/// One day's archive of one (venue, symbol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFile {
    /// The file's name.
    pub name: String,
    /// Where it is.
    pub url: Url,
    /// Where its checksum is, when the venue publishes one.
    pub checksum_url: Option<Url>,
    /// How it is compressed.
    pub packing: Packing,
}

impl DayFile {
    /// The archive of `symbol` on `venue` for `day` (`YYYY-MM-DD`) under `base`.
    pub fn locate(
        venue: Venue,
        base: &Url,
        symbol: Symbol,
        day: &str,
    ) -> Result<Self, ArchiveError> {
        let s = symbol.as_str();
        let (folder, name, packing) = match venue {
            Venue::BinanceSpot => (
                format!("data/spot/daily/aggTrades/{s}"),
                format!("{s}-aggTrades-{day}.zip"),
                Packing::Zip,
            ),
            Venue::BinanceUsdm => (
                format!("data/futures/um/daily/aggTrades/{s}"),
                format!("{s}-aggTrades-{day}.zip"),
                Packing::Zip,
            ),
            Venue::BybitLinear => (
                format!("trading/{s}"),
                format!("{s}{day}.csv.gz"),
                Packing::Gzip,
            ),
            Venue::BybitSpot => (
                format!("spot/{s}"),
                format!("{s}_{day}.csv.gz"),
                Packing::Gzip,
            ),
        };
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let join = |path: &str| {
            base.join(path).map_err(|err| {
                ArchiveError::Config(format!(
                    "archive_url {base} does not take the path {path}: {err}"
                ))
            })
        };
        let url = join(&format!("{folder}/{name}"))?;
        let checksum_url = match packing {
            Packing::Zip => Some(join(&format!("{folder}/{name}.CHECKSUM"))?),
            Packing::Gzip => None,
        };
        Ok(Self {
            name,
            url,
            checksum_url,
            packing,
        })
    }
}

/// Reads the digest of a `.CHECKSUM` file (`<sha256 hex>  <file name>`), checking that it
/// names `file`.
pub fn parse_checksum(text: &str, file: &str) -> Result<String, String> {
    let mut parts = text.split_whitespace();
    let digest = parts.next().ok_or("the checksum file is empty")?;
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the checksum file does not start with a SHA-256 digest".into());
    }
    if let Some(named) = parts.next()
        && named.trim_start_matches('*') != file
    {
        return Err(format!("the checksum file names {named:?}, not {file:?}"));
    }
    Ok(digest.to_ascii_lowercase())
}

/// The SHA-256 of a file, in lower-case hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;

    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(64), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

/// What a download reports as it goes.
pub trait DownloadProgress: Send + Sync {
    /// The file is `total` bytes long, `done` of them already on disk.
    fn start(&self, name: &str, total: Option<u64>, done: u64);
    /// `bytes` more arrived.
    fn advance(&self, bytes: u64);
}

/// Fetches archive files over HTTP(S).
#[derive(Debug, Clone)]
pub struct Fetcher {
    http: reqwest::Client,
}

/// Refuses an answer of more than this many bytes (the largest daily archives are a few
/// hundred megabytes).
const MAX_ARCHIVE_BYTES: u64 = 8 << 30;

/// Refuses a checksum file longer than this.
const MAX_CHECKSUM_BYTES: usize = 4_096;

impl Fetcher {
    /// A fetcher whose requests give up after `timeout` without progress.
    pub fn new(timeout: Duration) -> Result<Self, ArchiveError> {
        wadm_actors::util::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .user_agent(concat!("wadm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ArchiveError::Config(format!("no HTTP client: {err}")))?;
        Ok(Self { http })
    }

    /// The digest the venue publishes for `file`.
    pub async fn checksum(&self, url: &Url, file: &str) -> Result<String, ArchiveError> {
        let answer = self.send(url, None).await?;
        let status = answer.status();
        if !status.is_success() {
            return Err(status_error(url, status));
        }
        let body = answer.bytes().await.map_err(|err| transport(url, &err))?;
        if body.len() > MAX_CHECKSUM_BYTES {
            return Err(ArchiveError::Checksum {
                file: file.to_owned(),
                reason: format!("the checksum file is {} bytes long", body.len()),
            });
        }
        parse_checksum(&String::from_utf8_lossy(&body), file).map_err(|reason| {
            ArchiveError::Checksum {
                file: file.to_owned(),
                reason,
            }
        })
    }

    /// Downloads `url` to `target`, through `target` + `.part`: a part left by an earlier
    /// run is continued (`Range`), or started again when the server does not resume.
    /// Stops with [`ArchiveError::Interrupted`] when `cancel` is set, keeping the part.
    pub async fn download(
        &self,
        url: &Url,
        target: &Path,
        progress: &dyn DownloadProgress,
        cancel: &Arc<AtomicBool>,
    ) -> Result<(), ArchiveError> {
        let part = part_path(target);
        let have = tokio::fs::metadata(&part)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        let mut answer = self.send(url, (have > 0).then_some(have)).await?;
        let status = answer.status();
        let mut file = match status {
            reqwest::StatusCode::PARTIAL_CONTENT => open(&part, true).await?,
            reqwest::StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
                // The part is already whole.
                return rename(&part, target).await;
            }
            status if status.is_success() => open(&part, false).await?,
            status => return Err(status_error(url, status)),
        };
        let start = if status == reqwest::StatusCode::PARTIAL_CONTENT {
            have
        } else {
            0
        };
        let total = answer.content_length().map(|rest| rest + start);
        if total.is_some_and(|total| total > MAX_ARCHIVE_BYTES) {
            return Err(ArchiveError::TooLarge {
                url: url.to_string(),
                limit: MAX_ARCHIVE_BYTES,
            });
        }
        progress.start(target_name(target), total, start);
        let mut written = start;
        loop {
            if cancel.load(Ordering::Relaxed) {
                file.flush().await.map_err(|e| io(&part, e))?;
                return Err(ArchiveError::Interrupted);
            }
            let Some(chunk) = answer.chunk().await.map_err(|err| transport(url, &err))? else {
                break;
            };
            written += chunk.len() as u64;
            if written > MAX_ARCHIVE_BYTES {
                return Err(ArchiveError::TooLarge {
                    url: url.to_string(),
                    limit: MAX_ARCHIVE_BYTES,
                });
            }
            file.write_all(&chunk).await.map_err(|e| io(&part, e))?;
            progress.advance(chunk.len() as u64);
        }
        file.flush().await.map_err(|e| io(&part, e))?;
        file.sync_all().await.map_err(|e| io(&part, e))?;
        drop(file);
        if let Some(total) = total
            && written != total
        {
            return Err(ArchiveError::Transport {
                url: url.to_string(),
                reason: format!("{written} bytes of {total} arrived"),
            });
        }
        rename(&part, target).await
    }

    async fn send(&self, url: &Url, from: Option<u64>) -> Result<reqwest::Response, ArchiveError> {
        let mut request = self.http.get(url.clone());
        if let Some(from) = from {
            request = request.header(reqwest::header::RANGE, format!("bytes={from}-"));
        }
        request.send().await.map_err(|err| transport(url, &err))
    }
}

/// The partial download of `target`.
pub fn part_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

fn target_name(target: &Path) -> &str {
    target
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("archive")
}

async fn open(path: &Path, append: bool) -> Result<tokio::fs::File, ArchiveError> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .await
        .map_err(|e| io(path, e))
}

async fn rename(from: &Path, to: &Path) -> Result<(), ArchiveError> {
    tokio::fs::rename(from, to).await.map_err(|e| io(to, e))
}

pub(super) fn io(path: &Path, source: std::io::Error) -> ArchiveError {
    ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn transport(url: &Url, err: &reqwest::Error) -> ArchiveError {
    ArchiveError::Transport {
        url: url.to_string(),
        reason: wadm_actors::util::error_chain(err),
    }
}

fn status_error(url: &Url, status: reqwest::StatusCode) -> ArchiveError {
    if status == reqwest::StatusCode::NOT_FOUND {
        ArchiveError::NotPublished {
            url: url.to_string(),
        }
    } else {
        ArchiveError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_where_each_venue_puts_them() {
        let btc = Symbol::new("BTCUSDT").unwrap();
        let binance: Url = "https://data.binance.vision".parse().unwrap();
        let spot = DayFile::locate(Venue::BinanceSpot, &binance, btc, "2024-01-02").unwrap();
        assert_eq!(
            spot.url.as_str(),
            "https://data.binance.vision/data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-02.zip"
        );
        assert_eq!(
            spot.checksum_url.unwrap().as_str(),
            "https://data.binance.vision/data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-02.zip.CHECKSUM"
        );
        let usdm = DayFile::locate(Venue::BinanceUsdm, &binance, btc, "2024-01-02").unwrap();
        assert!(
            usdm.url
                .as_str()
                .contains("/data/futures/um/daily/aggTrades/BTCUSDT/")
        );
        let bybit: Url = "https://public.bybit.com/".parse().unwrap();
        let linear = DayFile::locate(Venue::BybitLinear, &bybit, btc, "2024-01-02").unwrap();
        assert_eq!(
            linear.url.as_str(),
            "https://public.bybit.com/trading/BTCUSDT/BTCUSDT2024-01-02.csv.gz"
        );
        assert_eq!(linear.checksum_url, None);
        let prefixed: Url = "http://127.0.0.1:9/mirror".parse().unwrap();
        let spot = DayFile::locate(Venue::BybitSpot, &prefixed, btc, "2024-01-02").unwrap();
        assert_eq!(
            spot.url.as_str(),
            "http://127.0.0.1:9/mirror/spot/BTCUSDT/BTCUSDT_2024-01-02.csv.gz"
        );
    }

    #[test]
    fn checksum_files_are_read_and_checked() {
        let digest = "a".repeat(64);
        assert_eq!(
            parse_checksum(&format!("{digest}  F.zip\n"), "F.zip"),
            Ok(digest.clone())
        );
        assert_eq!(
            parse_checksum(&digest.to_uppercase(), "F.zip"),
            Ok(digest.clone())
        );
        assert!(parse_checksum(&format!("{digest}  G.zip"), "F.zip").is_err());
        assert!(parse_checksum("", "F.zip").is_err());
        assert!(parse_checksum("abc  F.zip", "F.zip").is_err());
        assert!(parse_checksum(&"g".repeat(64), "F.zip").is_err());
    }
}
