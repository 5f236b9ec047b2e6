//! Sends a file to one member in a direct message through Slack's upload flow
//! (`files.getUploadURLExternal` → upload → `files.completeUploadExternal`): exports and
//! "Download my data".

use std::path::Path;

use slack_morphism::prelude::*;

use crate::ids::UserId;
use crate::slack::{SlackApi, SlackError};

/// A file on disk to send, with the message it comes with.
pub struct DmFile<'a> {
    pub filename: &'a str,
    pub path: &'a Path,
    /// Its length in bytes: Slack wants it before the upload.
    pub length: u64,
    pub comment: String,
}

/// Uploads `file` and shares it in the direct message between the bot and `user`.
pub async fn send_by_dm(slack: &SlackApi, user: &UserId, file: DmFile<'_>) -> Result<(), SlackError> {
    let ask = &SlackApiFilesGetUploadUrlExternalRequest::new(file.filename.to_owned(), file.length as usize);
    let target = slack
        .call("files.getUploadURLExternal", |s| async move {
            s.get_upload_url_external(ask).await
        })
        .await?;
    slack
        .upload_file(target.upload_url.0.as_ref(), file.path, file.length)
        .await?;
    let open = &SlackApiConversationsOpenRequest::new().with_users(vec![user.as_str().to_owned().into()]);
    let dm = slack
        .call("conversations.open", |s| async move {
            s.conversations_open(open).await
        })
        .await?;
    let complete = &SlackApiFilesCompleteUploadExternalRequest::new(vec![
        SlackApiFilesComplete::new(target.file_id.clone()).with_title(file.filename.to_owned()),
    ])
    .with_channel_id(dm.channel.id.clone())
    .with_initial_comment(file.comment);
    slack
        .call("files.completeUploadExternal", |s| async move {
            s.files_complete_upload_external(complete).await
        })
        .await?;
    Ok(())
}
