//! Persona avatars in a private S3 bucket: presigned PUT URLs that pin an upload's type and size,
//! short-lived presigned GET URLs to show one, and keys kept under each user's own prefix.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::new_id;
use crate::settings::{ConfigError, Sources, duration_or, invalid, optional_url, parse_or};
use crate::telemetry::cause_chain;

/// Every avatar key starts here, then the owner's id: `avatars/<user_id>/<persona_id>/<id>.<ext>`.
const KEY_ROOT: &str = "avatars";

/// An image type avatars may have, and the extension its key gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageType {
    pub content_type: &'static str,
    pub extension: &'static str,
}

pub const ALLOWED_IMAGE_TYPES: [ImageType; 3] = [
    ImageType {
        content_type: "image/png",
        extension: "png",
    },
    ImageType {
        content_type: "image/jpeg",
        extension: "jpg",
    },
    ImageType {
        content_type: "image/webp",
        extension: "webp",
    },
];

#[derive(Debug, thiserror::Error)]
pub enum AvatarError {
    #[error("content_type: must be image/png, image/jpeg or image/webp")]
    UnsupportedContentType,
    #[error("content_length: must be 1 to {max_bytes} bytes")]
    ContentLengthOutOfRange { max_bytes: u64 },
    #[error("could not presign an S3 request")]
    Presign(#[source] Box<dyn StdError + Send + Sync>),
    #[error("S3 did not delete {key}")]
    Delete {
        key: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

/// Everything a client needs to PUT an avatar straight to S3 (the bytes never pass through Helix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upload {
    pub upload_url: String,
    pub method: String,
    /// Send exactly these: they are signed into the URL, so S3 refuses another type or size.
    pub headers: BTreeMap<String, String>,
    /// Where the avatar will be; the persona points at it from now on.
    pub key: String,
    pub expires_at: DateTime<Utc>,
}

/// The allowed image type for `content_type` (case-insensitive, as MIME types are).
pub fn image_type(content_type: &str) -> Option<ImageType> {
    let content_type = content_type.trim();
    ALLOWED_IMAGE_TYPES
        .into_iter()
        .find(|allowed| allowed.content_type.eq_ignore_ascii_case(content_type))
}

/// Checks a requested upload against the allowed types and `max_bytes`.
pub fn check_upload(
    content_type: &str,
    content_length: u64,
    max_bytes: u64,
) -> Result<ImageType, AvatarError> {
    let image = image_type(content_type).ok_or(AvatarError::UnsupportedContentType)?;
    if !(1..=max_bytes).contains(&content_length) {
        return Err(AvatarError::ContentLengthOutOfRange { max_bytes });
    }
    Ok(image)
}

/// A fresh key per upload, so a cached or still-valid URL of the old avatar never shows the new.
pub fn avatar_key(user_id: &str, persona_id: &str, object_id: &str, extension: &str) -> String {
    format!("{KEY_ROOT}/{user_id}/{persona_id}/{object_id}.{extension}")
}

/// True when `key` lies under `user_id`'s prefix: Helix signs or deletes no other object for them.
pub fn key_belongs_to_user(key: &str, user_id: &str) -> bool {
    let plausible_user = !user_id.is_empty() && !user_id.contains('/');
    let prefix = format!("{KEY_ROOT}/{user_id}/");
    plausible_user && key.len() > prefix.len() && key.starts_with(&prefix)
}

/// The avatar bucket and how to sign for it. Cheap to share: the client is reference-counted.
pub struct AvatarStore {
    client: Client,
    bucket: String,
    config: AvatarConfig,
}

impl AvatarStore {
    /// `None` when no bucket is configured: avatars are then off.
    pub fn new(sdk: &aws_config::SdkConfig, config: &AvatarConfig) -> Option<Self> {
        let bucket = config.bucket.clone()?;
        let mut s3 = aws_sdk_s3::config::Builder::from(sdk);
        if let Some(endpoint) = &config.endpoint {
            s3 = s3.endpoint_url(endpoint);
        }
        // Virtual-hosted addressing needs DNS for `<bucket>.<host>`, which a custom endpoint
        // (moto on 127.0.0.1, MinIO) lacks; AWS itself keeps the default.
        let custom_endpoint = config.endpoint.is_some() || sdk.endpoint_url().is_some();
        let s3 = s3.force_path_style(custom_endpoint).build();
        Some(AvatarStore {
            client: Client::from_conf(s3),
            bucket,
            config: config.clone(),
        })
    }

    /// A PUT URL for a new avatar of `persona_id`, valid for the configured upload lifetime.
    pub async fn presign_upload(
        &self,
        user_id: &str,
        persona_id: &str,
        content_type: &str,
        content_length: u64,
    ) -> Result<Upload, AvatarError> {
        let image = check_upload(content_type, content_length, self.config.max_bytes)?;
        let signed_length =
            i64::try_from(content_length).map_err(|_| AvatarError::ContentLengthOutOfRange {
                max_bytes: self.config.max_bytes,
            })?;
        let key = avatar_key(user_id, persona_id, &new_id(), image.extension);
        let issued_at = SystemTime::now();
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(image.content_type)
            .content_length(signed_length)
            .presigned(presigning(issued_at, self.config.upload_ttl)?)
            .await
            .map_err(|e| AvatarError::Presign(e.into()))?;
        Ok(Upload {
            upload_url: request.uri().to_owned(),
            method: request.method().to_owned(),
            headers: headers_to_send(&request),
            key,
            expires_at: DateTime::<Utc>::from(issued_at + self.config.upload_ttl),
        })
    }

    /// A GET URL for `key`, valid for the configured download lifetime.
    pub async fn presign_download(&self, key: &str) -> Result<String, AvatarError> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(SystemTime::now(), self.config.download_ttl)?)
            .await
            .map_err(|e| AvatarError::Presign(e.into()))?;
        Ok(request.uri().to_owned())
    }

    /// The URL to show for a persona's avatar: `None` without a key, for a key outside the owner's
    /// prefix, or when signing fails (logged) — a missing picture must not fail a whole list.
    pub async fn download_url_for(&self, owner_id: &str, key: Option<&str>) -> Option<String> {
        let key = key?;
        if !key_belongs_to_user(key, owner_id) {
            tracing::warn!(%key, "a persona's avatar key is outside its owner's prefix; not signed");
            return None;
        }
        self.presign_download(key)
            .await
            .inspect_err(
                |e| tracing::warn!(%key, error.chain = %cause_chain(e), "avatar URL not signed"),
            )
            .ok()
    }

    /// Deletes the object at `key` (S3 answers success for a missing one).
    pub async fn delete(&self, key: &str) -> Result<(), AvatarError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AvatarError::Delete {
                key: key.to_owned(),
                source: e.into(),
            })
    }

    /// Deletes an avatar object the caller no longer points at. Best effort: an orphaned object
    /// costs a fraction of a cent, while failing the request would cost the user their change.
    pub async fn discard(&self, owner_id: &str, key: &str) {
        if !key_belongs_to_user(key, owner_id) {
            tracing::warn!(%key, "not deleting an avatar key outside its owner's prefix");
            return;
        }
        if let Err(error) = self.delete(key).await {
            tracing::warn!(%key, error.chain = %cause_chain(&error), "avatar object orphaned");
        }
    }
}

/// The avatar URL for a persona when a store is configured (see [`AvatarStore::download_url_for`]).
pub async fn avatar_url(
    store: Option<&AvatarStore>,
    owner_id: &str,
    key: Option<&str>,
) -> Option<String> {
    match store {
        Some(store) => store.download_url_for(owner_id, key).await,
        None => None,
    }
}

fn presigning(issued_at: SystemTime, ttl: Duration) -> Result<PresigningConfig, AvatarError> {
    PresigningConfig::builder()
        .start_time(issued_at)
        .expires_in(ttl)
        .build()
        .map_err(|e| AvatarError::Presign(e.into()))
}

/// The headers the signature covers (lower-cased names), which the client must send as given.
fn headers_to_send(request: &PresignedRequest) -> BTreeMap<String, String> {
    request
        .headers()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect()
}

/// Persona avatars: a private S3 bucket reached only through short-lived presigned URLs.
#[derive(Debug, Clone)]
pub struct AvatarConfig {
    /// Without a bucket the avatar route answers 503 and personas show no avatar.
    pub bucket: Option<String>,
    /// An S3-compatible endpoint for the bucket alone (`make dev`'s local moto, MinIO); `None`:
    /// S3 itself, or whatever the AWS configuration names for every client.
    pub endpoint: Option<String>,
    /// The largest upload a presigned URL allows; S3 enforces it through the signed Content-Length.
    pub max_bytes: u64,
    pub upload_ttl: Duration,
    pub download_ttl: Duration,
}

/// Avatars are small pictures; S3 would take 5 GiB in one PUT, so Helix caps what it signs.
pub const MAX_AVATAR_BYTES_LIMIT: u64 = 10 * 1024 * 1024;

impl AvatarConfig {
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let config = AvatarConfig {
            bucket: sources
                .get("HELIX_AVATAR_BUCKET")
                .map(|b| b.trim().to_owned()),
            endpoint: optional_url(sources, "HELIX_AVATAR_ENDPOINT")?,
            max_bytes: parse_or(sources, "HELIX_AVATAR_MAX_BYTES", 2 * 1024 * 1024)?,
            upload_ttl: duration_or(
                sources,
                "HELIX_AVATAR_UPLOAD_TTL",
                Duration::from_secs(5 * 60),
            )?,
            download_ttl: duration_or(
                sources,
                "HELIX_AVATAR_DOWNLOAD_TTL",
                Duration::from_secs(15 * 60),
            )?,
        };
        config.check_bounds()?;
        Ok(config)
    }

    fn check_bounds(&self) -> Result<(), ConfigError> {
        if let Some(bucket) = &self.bucket
            && !is_bucket_name(bucket)
        {
            return Err(invalid(
                "HELIX_AVATAR_BUCKET",
                "must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots or hyphens",
            ));
        }
        if !(1..=MAX_AVATAR_BYTES_LIMIT).contains(&self.max_bytes) {
            return Err(invalid(
                "HELIX_AVATAR_MAX_BYTES",
                format!("must be 1 to {MAX_AVATAR_BYTES_LIMIT} (10 MiB)"),
            ));
        }
        // Presigned URLs die with the credentials that signed them (a Lambda role's last hours),
        // so long lifetimes would only promise what S3 may not keep.
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.upload_ttl) {
            return Err(invalid(
                "HELIX_AVATAR_UPLOAD_TTL",
                "must be between 1s and 1h",
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(12 * 3600)).contains(&self.download_ttl) {
            return Err(invalid(
                "HELIX_AVATAR_DOWNLOAD_TTL",
                "must be between 1s and 12h",
            ));
        }
        Ok(())
    }
}

/// S3's rules, loosely: a typo (an ARN, a URL, upper case) is caught at start, not at first upload.
fn is_bucket_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&name.len())
        && name.chars().all(allowed)
        && name.starts_with(alphanumeric)
        && name.ends_with(alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiError;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn png_jpeg_and_webp_are_allowed_with_their_extensions() {
        let extension = |content_type| image_type(content_type).map(|image| image.extension);
        assert_eq!(extension("image/png"), Some("png"));
        assert_eq!(extension("image/jpeg"), Some("jpg"));
        assert_eq!(extension("image/webp"), Some("webp"));
        assert_eq!(extension(" Image/PNG "), Some("png"));
    }

    #[test]
    fn other_types_are_refused() {
        for content_type in [
            "image/gif",
            "image/svg+xml",
            "text/html",
            "image/png; x=1",
            "",
        ] {
            assert_eq!(image_type(content_type), None, "{content_type}");
        }
    }

    #[test]
    fn an_upload_check_names_the_field_at_fault() {
        let type_error = check_upload("image/gif", 10, 2 * MIB).unwrap_err();
        assert!(type_error.to_string().starts_with("content_type:"));
        for length in [0, 2 * MIB + 1] {
            let size_error = check_upload("image/png", length, 2 * MIB).unwrap_err();
            assert_eq!(
                size_error.to_string(),
                "content_length: must be 1 to 2097152 bytes"
            );
        }
        assert_eq!(
            check_upload("image/jpeg", 2 * MIB, 2 * MIB).unwrap(),
            ALLOWED_IMAGE_TYPES[1]
        );
    }

    #[test]
    fn keys_sit_under_the_users_and_personas_prefix() {
        assert_eq!(
            avatar_key("u1", "p1", "obj", "png"),
            "avatars/u1/p1/obj.png"
        );
    }

    #[test]
    fn a_key_belongs_only_to_the_user_whose_prefix_it_has() {
        let key = avatar_key("user1", "p1", "obj", "webp");
        assert!(key_belongs_to_user(&key, "user1"));
        assert!(!key_belongs_to_user(&key, "user"));
        assert!(!key_belongs_to_user(&key, "user12"));
        assert!(!key_belongs_to_user(&key, ""));
        assert!(!key_belongs_to_user("avatars/user1/", "user1"));
        assert!(!key_belongs_to_user("avatars/a/b/obj.png", "a/b"));
        assert!(!key_belongs_to_user("https://example.com/a.png", "user1"));
    }

    #[test]
    fn bad_uploads_are_400s_and_signing_failures_500s() {
        let bad = ApiError::from(AvatarError::UnsupportedContentType);
        assert_eq!(bad.status().as_u16(), 400);
        let failed = ApiError::from(AvatarError::Presign("no credentials".into()));
        assert_eq!(failed.status().as_u16(), 500);
    }

    fn avatar_config(bucket: Option<&str>) -> AvatarConfig {
        AvatarConfig {
            bucket: bucket.map(str::to_owned),
            endpoint: None,
            max_bytes: 2 * MIB,
            upload_ttl: Duration::from_secs(300),
            download_ttl: Duration::from_secs(900),
        }
    }

    /// Signing is local: static credentials and an endpoint nobody listens on are enough.
    fn offline_sdk() -> aws_config::SdkConfig {
        use aws_sdk_s3::config::{Credentials, Region, SharedCredentialsProvider};
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:1")
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            )))
            .build()
    }

    #[tokio::test]
    async fn an_upload_url_signs_its_type_and_length_for_a_key_under_the_user() {
        let store = AvatarStore::new(&offline_sdk(), &avatar_config(Some("avatars-b"))).unwrap();
        let upload = store
            .presign_upload("u1", "p1", "IMAGE/JPEG", 1234)
            .await
            .unwrap();
        assert!(upload.key.starts_with("avatars/u1/p1/") && upload.key.ends_with(".jpg"));
        assert!(
            upload
                .upload_url
                .starts_with(&format!("http://127.0.0.1:1/avatars-b/{}?", upload.key)),
            "path-style on a custom endpoint: {}",
            upload.upload_url
        );
        assert!(
            upload
                .upload_url
                .contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"),
            "{}",
            upload.upload_url
        );
        assert!(upload.upload_url.contains("X-Amz-Expires=300"));
        assert_eq!(upload.method, "PUT");
        let expected: BTreeMap<String, String> = [
            ("content-length".to_owned(), "1234".to_owned()),
            ("content-type".to_owned(), "image/jpeg".to_owned()),
        ]
        .into();
        assert_eq!(upload.headers, expected);
    }

    #[tokio::test]
    async fn an_upload_url_is_refused_for_a_bad_type_before_any_signing() {
        let store = AvatarStore::new(&offline_sdk(), &avatar_config(Some("avatars-b"))).unwrap();
        let error = store
            .presign_upload("u1", "p1", "image/gif", 10)
            .await
            .unwrap_err();
        assert!(matches!(error, AvatarError::UnsupportedContentType));
    }

    #[tokio::test]
    async fn download_urls_are_signed_only_for_the_owners_keys() {
        let store = AvatarStore::new(&offline_sdk(), &avatar_config(Some("avatars-b"))).unwrap();
        let key = avatar_key("u1", "p1", "obj", "png");
        let url = store.download_url_for("u1", Some(&key)).await.unwrap();
        assert!(url.contains("X-Amz-Expires=900"), "{url}");
        assert_eq!(store.download_url_for("u2", Some(&key)).await, None);
        assert_eq!(store.download_url_for("u1", None).await, None);
        assert_eq!(avatar_url(None, "u1", Some(&key)).await, None);
    }

    #[tokio::test]
    async fn without_a_bucket_there_is_no_store() {
        assert!(AvatarStore::new(&offline_sdk(), &avatar_config(None)).is_none());
    }
}
