//! The workspace store (installations, links, settings, OAuth states, purge) on both backends.

use circlet::inbox::{InboxKind, InboxState, NewInboxItem};
use circlet::store::{CircleChange, Installation, RotatedTokens, SettingChange, WorkspaceSettings};

use crate::helpers::ids::{channel, team, user};
pub use crate::helpers::schema::rows_naming;
use crate::on_both_backends;

pub fn installation(team_id: &str, sealed_token: &str) -> Installation {
    Installation {
        team_id: team(team_id).clone(),
        team_name: Some("Glow Beauty".into()),
        enterprise_id: None,
        is_enterprise_install: false,
        app_id: "A0CIRCLET".into(),
        bot_user_id: user("U0BOT").clone(),
        scopes: "channels:history,chat:write".into(),
        installer_user_id: Some(user("U0ADMIN").clone()),
        bot_token: sealed_token.into(),
        refresh_token: Some("sealed-refresh-1".into()),
        token_expires_at: Some(50_000),
        installed_at: 1_000,
        updated_at: 1_000,
        uninstalled_at: None,
        home_team_id: None,
    }
}

fn inbox_item(team_id: &str, event_id: &str) -> NewInboxItem {
    NewInboxItem {
        team_id: team_id.into(),
        event_id: event_id.into(),
        kind: InboxKind::Event,
        event_type: "message".into(),
        payload: "{}".into(),
        received_at: 1,
    }
}

on_both_backends! {
    async fn installing_again_updates_the_row_and_keeps_the_link(db: TestDb) {
        let workspaces = db.store().await.workspaces();
        workspaces.save_installation(&installation("T0HOME", "sealed-a")).await.unwrap();
        workspaces.save_installation(&installation("T0SRC", "sealed-b")).await.unwrap();
        assert!(workspaces.set_home(team("T0SRC"), Some(team("T0HOME")), 2_000).await.unwrap());
        assert!(workspaces.mark_uninstalled(team("T0SRC"), 3_000).await.unwrap());

        let mut again = installation("T0SRC", "sealed-c");
        again.installed_at = 4_000;
        again.updated_at = 4_000;
        workspaces.save_installation(&again).await.unwrap();

        let stored = workspaces.installation(team("T0SRC")).await.unwrap().unwrap();
        assert_eq!(stored.bot_token, "sealed-c");
        assert!(stored.is_active(), "installing again makes it active");
        assert_eq!(stored.home_team_id.as_ref(), Some(team("T0HOME")));
        assert_eq!(stored.installed_at, 4_000);
        let all = workspaces.installations().await.unwrap();
        assert_eq!(all.iter().map(|i| i.team_id.as_str()).collect::<Vec<_>>(), ["T0HOME", "T0SRC"]);
        assert_eq!(all[0], installation("T0HOME", "sealed-a"));
        assert!(!workspaces.set_home(team("T0NONE"), None, 5_000).await.unwrap(), "no such installation");
    }
}

on_both_backends! {
    async fn uninstalling_drops_the_workspaces_queued_work_only(db: TestDb) {
        let store = db.store().await;
        let workspaces = store.workspaces();
        workspaces.save_installation(&installation("T0GONE", "sealed")).await.unwrap();
        store
            .insert_inbox(&[inbox_item("T0GONE", "Ev1"), inbox_item("T0GONE", "Ev2"), inbox_item("T0STAY", "Ev3")])
            .await
            .unwrap();

        assert!(workspaces.mark_uninstalled(team("T0GONE"), 9_000).await.unwrap());
        assert!(!workspaces.mark_uninstalled(team("T0GONE"), 9_500).await.unwrap(), "already uninstalled");
        let gone = store.find_inbox_by_event_id("Ev1").await.unwrap().unwrap();
        assert_eq!(gone.state, InboxState::Dead);
        assert_eq!(gone.last_error.as_deref(), Some("workspace uninstalled"));
        let kept = store.find_inbox_by_event_id("Ev3").await.unwrap().unwrap();
        assert_eq!(kept.state, InboxState::Pending);
        let stored = workspaces.installation(team("T0GONE")).await.unwrap().unwrap();
        assert_eq!(stored.uninstalled_at, Some(9_000));
    }
}

on_both_backends! {
    async fn a_rotated_pair_replaces_the_old_only_once(db: TestDb) {
        let workspaces = db.store().await.workspaces();
        workspaces.save_installation(&installation("T0ROT", "sealed-1")).await.unwrap();
        let rotated = RotatedTokens {
            bot_token: "sealed-2".into(),
            refresh_token: "sealed-refresh-2".into(),
            expires_at: 90_000,
        };
        assert!(workspaces.replace_tokens(team("T0ROT"), "sealed-refresh-1", &rotated, 60_000).await.unwrap());
        // A second replica that refreshed with the same old token loses.
        assert!(!workspaces.replace_tokens(team("T0ROT"), "sealed-refresh-1", &rotated, 60_001).await.unwrap());
        let stored = workspaces.installation(team("T0ROT")).await.unwrap().unwrap();
        assert_eq!(
            (stored.bot_token.as_str(), stored.refresh_token.as_deref(), stored.token_expires_at),
            ("sealed-2", Some("sealed-refresh-2"), Some(90_000))
        );
    }
}

on_both_backends! {
    async fn an_oauth_state_works_once_and_not_after_it_expires(db: TestDb) {
        let workspaces = db.store().await.workspaces();
        workspaces.put_oauth_state("hash-a", 10_000, 1_000).await.unwrap();
        workspaces.put_oauth_state("hash-b", 10_000, 1_000).await.unwrap();
        assert!(workspaces.take_oauth_state("hash-a", 5_000).await.unwrap());
        assert!(!workspaces.take_oauth_state("hash-a", 5_000).await.unwrap(), "used once");
        assert!(!workspaces.take_oauth_state("hash-b", 10_000).await.unwrap(), "expired");
        assert!(!workspaces.take_oauth_state("never-issued", 5_000).await.unwrap());
    }
}

on_both_backends! {
    async fn settings_are_per_workspace(db: TestDb) {
        let workspaces = db.store().await.workspaces();
        let (home, other) = (team("T0HOME"), team("T0OTHER"));
        assert_eq!(workspaces.settings(home).await.unwrap(), WorkspaceSettings::default());
        workspaces
            .change_setting(home, SettingChange::ProductUsers(Some("U0A,U0B")), user("U0ADMIN"), 1)
            .await
            .unwrap();
        workspaces
            .change_setting(home, SettingChange::DigestChannel(Some(channel("C0DIGEST"))), user("U0ADMIN"), 2)
            .await
            .unwrap();
        let settings = workspaces.settings(home).await.unwrap();
        assert_eq!(settings.product_users.as_deref(), Some("U0A,U0B"));
        assert_eq!(settings.digest_channel.as_ref(), Some(channel("C0DIGEST")));
        assert_eq!(workspaces.settings(other).await.unwrap(), WorkspaceSettings::default());
        workspaces
            .change_setting(home, SettingChange::DigestChannel(None), user("U0ADMIN"), 3)
            .await
            .unwrap();
        assert_eq!(workspaces.settings(home).await.unwrap().digest_channel, None);
    }
}

on_both_backends! {
    async fn purging_a_workspace_leaves_no_row_of_it_in_any_table(db: TestDb) {
        let store = db.store().await;
        for team_id in ["T0GONE", "T0STAY"] {
            store.workspaces().save_installation(&installation(team_id, "sealed")).await.unwrap();
            let change = CircleChange {
                team_id: team(team_id),
                channel_id: channel("C0CIRCLE"),
                active: true,
                changed_by: Some(user("U0PM")),
                at: 1,
            };
            store.set_circle(&change).await.unwrap();
            store.insert_inbox(&[inbox_item(team_id, &format!("Ev{team_id}"))]).await.unwrap();
            store
                .workspaces()
                .change_setting(team(team_id), SettingChange::DigestChannel(Some(channel("C0D"))), user("U0PM"), 1)
                .await
                .unwrap();
        }
        crate::helpers::insights::seed_insights(&db, "T0GONE", 3, 20).await;
        store.workspaces().set_home(team("T0STAY"), Some(team("T0GONE")), 2).await.unwrap();

        let purged = store.workspaces().purge_workspace(team("T0GONE")).await.unwrap();
        assert!(purged.rows() >= 5, "{purged:?}");
        assert_eq!(rows_naming(&db, "T0GONE").await, Vec::<String>::new());
        assert!(!rows_naming(&db, "T0STAY").await.is_empty(), "the other workspace keeps its rows");
        let stay = store.workspaces().installation(team("T0STAY")).await.unwrap().unwrap();
        assert_eq!(stay.home_team_id, None, "a link into the removed workspace goes with it");
    }
}
