//! The Web API methods the fake knows, over its workspace's state.

use serde_json::{Value, json};

use super::params::{json_param, param_str, required};
use super::store::msg_str;
use super::{Answer, DEFAULT_TEAM_ID, Fault, FaultSlot, Params, Slack};

const TEAM_URL: &str = "https://circle.slack.com/";
pub(super) const BOT_USER_ID: &str = "UCIRCLET";
const BOT_ID: &str = "BCIRCLET";
const FIRST_TS_SECS: u64 = 1_700_000_000;
const TS_STEP_MICROS: u64 = 100;

/// Who made a call: the token from the `Authorization` header or else a `token` param, and the
/// header's alone.
pub(super) struct Caller<'a> {
    pub(super) token: Option<&'a str>,
    pub(super) bearer: Option<&'a str>,
}

pub(super) fn dispatch(
    slack: &mut Slack,
    base_url: &str,
    method: &str,
    params: &Params,
    caller: Caller<'_>,
) -> Value {
    let answer = match method {
        "apps.connections.open" => slack.open_socket_connection(caller.bearer),
        "auth.test" => Ok(match slack.token_owner(caller.token) {
            Some((team_id, user_id)) => auth_test(team_id, user_id, None),
            None => auth_test(
                slack.team_id.as_deref().unwrap_or(DEFAULT_TEAM_ID),
                BOT_USER_ID,
                slack.enterprise_install.as_deref(),
            ),
        }),
        "oauth.v2.access" => slack.oauth_access(params),
        "chat.postMessage" => slack.post_message(params),
        "chat.postEphemeral" => slack.post_ephemeral(params),
        "chat.update" => slack.update_message(params),
        "chat.getPermalink" => permalink(params),
        "conversations.history" => slack.history(params),
        "conversations.replies" => slack.replies(params),
        "conversations.info" => slack.conversation_info(params),
        "conversations.members" => slack.channel_members(params),
        "conversations.open" => open_dm(params),
        "reactions.add" | "reactions.remove" => {
            // The reaction is the calling installation's bot's.
            let owner = slack.token_owner(caller.token).map(|(_, user)| user.to_owned());
            let user = owner.unwrap_or_else(|| BOT_USER_ID.to_owned());
            if method == "reactions.add" {
                slack.add_reaction(params, &user)
            } else {
                slack.remove_reaction(params, &user)
            }
        }
        "users.info" => slack.user_info(params),
        "usergroups.users.list" => slack.usergroup_users(params),
        "views.open" | "views.update" | "views.push" | "views.publish" => slack.view(method, params),
        "files.getUploadURLExternal" => slack.upload_url(base_url, params),
        "files.completeUploadExternal" => complete_upload(params),
        _ => Err("unknown_method"),
    };
    match answer {
        Ok(Value::Object(mut fields)) => {
            fields.insert("ok".into(), true.into());
            Value::Object(fields)
        }
        Ok(_) => json!({"ok": true}),
        Err(code) => json!({"ok": false, "error": code}),
    }
}

fn auth_test(team_id: &str, user_id: &str, enterprise_install: Option<&str>) -> Value {
    let mut answer = json!({
        "url": TEAM_URL, "team": "Circle", "user": "circlet", "team_id": team_id,
        "user_id": user_id, "bot_id": BOT_ID, "is_enterprise_install": false,
    });
    if let Some(enterprise) = enterprise_install {
        answer["enterprise_id"] = enterprise.into();
        answer["is_enterprise_install"] = true.into();
    }
    answer
}

fn permalink(params: &Params) -> Answer {
    let channel = required(params, "channel").ok_or("channel_not_found")?;
    let ts = required(params, "message_ts").ok_or("message_not_found")?;
    let link = format!("{TEAM_URL}archives/{channel}/p{}", ts.replace('.', ""));
    Ok(json!({"channel": channel, "permalink": link}))
}

/// A direct-message channel with `users`: `D` plus the user id, stable per user.
/// `users` may come comma-separated (form) or as a JSON array (slack-morphism's JSON body).
fn open_dm(params: &Params) -> Answer {
    let first = match params.get("users") {
        Some(Value::Array(users)) => users.first().and_then(Value::as_str).map(str::to_owned),
        Some(Value::String(users)) => users.split(',').next().map(str::to_owned),
        _ => None,
    };
    let user = first.filter(|u| !u.is_empty()).ok_or("users_list_not_supplied")?;
    Ok(json!({"channel": {"id": format!("D{user}")}}))
}

impl Slack {
    /// An app-level token is accepted only in the `Authorization` header (a `token` param counts
    /// as no token), and only an app with Socket Mode gets a URL.
    fn open_socket_connection(&self, bearer: Option<&str>) -> Answer {
        let token = bearer.ok_or("not_authed")?;
        if !token.starts_with("xapp-") {
            return Err("not_allowed_token_type");
        }
        let socket_mode = self.socket_mode.as_ref().ok_or("invalid_auth")?;
        Ok(json!({"url": socket_mode.issue_url()}))
    }

    fn conversation_info(&self, params: &Params) -> Answer {
        let id = required(params, "channel").ok_or("channel_not_found")?;
        let name = self
            .channel_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("circle-{}", id.to_lowercase()));
        Ok(json!({"channel": {
            "id": id, "name": name, "created": 1_700_000_000, "is_channel": true, "is_member": true,
            "is_archived": false,
        }}))
    }

    pub(super) fn take_fault(&mut self, method: &str) -> Option<Fault> {
        let matches = |slot: &FaultSlot| slot.method == method || slot.method == "*";
        let index = self.faults.iter().position(matches)?;
        let slot = &mut self.faults[index];
        slot.remaining -= 1;
        let fault = slot.fault.clone();
        if slot.remaining == 0 {
            self.faults.remove(index);
        }
        Some(fault)
    }

    /// Timestamps start at the current time, as Slack's do, so clients that look back a few
    /// minutes (`oldest`) find what was just posted.
    pub(super) fn next_ts(&mut self) -> String {
        if self.ts_counter == 0 && self.first_ts_secs == 0 {
            self.first_ts_secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(FIRST_TS_SECS, |d| d.as_secs().max(FIRST_TS_SECS));
        }
        self.ts_counter += 1;
        let micros = self.ts_counter * TS_STEP_MICROS;
        format!(
            "{}.{:06}",
            self.first_ts_secs + micros / 1_000_000,
            micros % 1_000_000
        )
    }

    fn next_id(&mut self) -> u64 {
        self.id_counter += 1;
        self.id_counter
    }

    pub(super) fn store(&mut self, channel: &str, message: Value) {
        self.messages
            .entry(channel.to_owned())
            .or_default()
            .insert(message);
    }

    fn post_message(&mut self, params: &Params) -> Answer {
        let channel = required(params, "channel").ok_or("channel_not_found")?;
        let ts = self.next_ts();
        let text = param_str(params, "text").unwrap_or_default();
        let mut message =
            json!({"type": "message", "ts": ts, "text": text, "user": BOT_USER_ID, "bot_id": BOT_ID});
        if let (Some(thread_ts), Some(fields)) = (required(params, "thread_ts"), message.as_object_mut()) {
            fields.insert("thread_ts".into(), thread_ts.into());
        }
        copy_present(params, &mut message);
        self.store(&channel, message.clone());
        Ok(json!({"channel": channel, "ts": ts, "message": message}))
    }

    fn post_ephemeral(&mut self, params: &Params) -> Answer {
        required(params, "channel").ok_or("channel_not_found")?;
        Ok(json!({"message_ts": self.next_ts()}))
    }

    fn update_message(&mut self, params: &Params) -> Answer {
        let channel = required(params, "channel").ok_or("channel_not_found")?;
        let ts = required(params, "ts").ok_or("message_not_found")?;
        let message = self.message_mut(&channel, &ts).ok_or("message_not_found")?;
        if let (Some(text), Some(fields)) = (param_str(params, "text"), message.as_object_mut()) {
            fields.insert("text".into(), text.into());
        }
        copy_present(params, message);
        let text = message.get("text").cloned().unwrap_or_else(|| "".into());
        Ok(json!({"channel": channel, "ts": ts, "text": text, "message": message}))
    }

    fn usergroup_users(&self, params: &Params) -> Answer {
        let group = required(params, "usergroup").ok_or("no_such_subteam")?;
        let users = self.usergroups.get(&group).ok_or("no_such_subteam")?;
        Ok(json!({"users": users}))
    }

    /// Pages of two members, so callers' cursor handling is exercised.
    fn channel_members(&self, params: &Params) -> Answer {
        const PAGE: usize = 2;
        let channel = required(params, "channel").ok_or("channel_not_found")?;
        let all = self.members.get(&channel).cloned().unwrap_or_default();
        let start: usize = param_str(params, "cursor")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let page: Vec<&String> = all.iter().skip(start).take(PAGE).collect();
        let next = if start + PAGE < all.len() {
            (start + PAGE).to_string()
        } else {
            String::new()
        };
        Ok(json!({"members": page, "response_metadata": {"next_cursor": next}}))
    }

    /// A user set with [`FakeSlack::set_user`] (or a default one), of the bot's workspace
    /// unless the user says which workspace it belongs to (a Slack Connect member).
    fn user_info(&self, params: &Params) -> Answer {
        let id = required(params, "user").ok_or("user_not_found")?;
        let mut user = self.users.get(&id).cloned().unwrap_or_else(|| default_user(&id));
        if let Some(user) = user.as_object_mut() {
            let team = self.team_id.as_deref().unwrap_or(DEFAULT_TEAM_ID);
            user.entry("team_id").or_insert_with(|| team.into());
        }
        Ok(json!({"user": user}))
    }

    fn view(&mut self, method: &str, params: &Params) -> Answer {
        let view = json_param(params, "view").ok_or("invalid_arguments")?;
        let mut view = view.as_object().cloned().ok_or("invalid_arguments")?;
        let id = match (method, required(params, "view_id")) {
            ("views.update", Some(id)) => id,
            _ => format!("V{}", self.next_id()),
        };
        let kind = view.get("type").cloned().unwrap_or_else(|| "modal".into());
        view.insert("id".into(), id.into());
        view.insert("type".into(), kind);
        Ok(json!({"view": view}))
    }

    fn upload_url(&mut self, base_url: &str, params: &Params) -> Answer {
        required(params, "filename").ok_or("invalid_arguments")?;
        let file_id = format!("F{}", self.next_id());
        Ok(json!({"upload_url": format!("{base_url}/upload/{file_id}"), "file_id": file_id}))
    }
}

fn complete_upload(params: &Params) -> Answer {
    let entries = json_param(params, "files").ok_or("invalid_arguments")?;
    let entries = entries
        .as_array()
        .filter(|e| !e.is_empty())
        .ok_or("invalid_arguments")?;
    let files = entries.iter().map(|entry| {
        let id = msg_str(entry, "id").ok_or("invalid_arguments")?;
        Ok(json!({"id": id, "title": msg_str(entry, "title").unwrap_or(id)}))
    });
    Ok(json!({"files": files.collect::<Result<Vec<Value>, &'static str>>()?}))
}

fn default_user(id: &str) -> Value {
    let name = id.to_lowercase();
    let real_name = format!("User {id}");
    json!({
        "id": id, "name": name, "real_name": real_name, "is_admin": false, "is_owner": false,
        "profile": {"display_name": name, "real_name": real_name},
    })
}

/// Copies the rich-content params (`blocks`, `metadata`, `attachments`) that are present into `message`.
fn copy_present(params: &Params, message: &mut Value) {
    let Some(fields) = message.as_object_mut() else {
        return;
    };
    for key in ["blocks", "metadata", "attachments"] {
        if let Some(value) = params.get(key).filter(|v| !v.is_null()) {
            fields.insert(key.to_owned(), value.clone());
        }
    }
}
