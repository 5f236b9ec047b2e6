//! `circlet forget U… [--team T]` against a database with a member's history.

use circlet::store::forget::REMOVED_TEXT;

use crate::cli::{circlet, stderr, stdout};
use crate::forget::{MAYA, OMAR, app, history};
use crate::helpers::traces;
use crate::on_both_backends;

on_both_backends! {
    async fn circlet_forget_removes_a_member_and_says_what_it_removed(db: TestDb) {
        let handle = db.handle();
        let url = db.url.clone();
        let app = app(db).await;
        history(&app).await;
        let env = [("DATABASE_URL", url.as_str())];

        let output = circlet(&["forget", MAYA], &env);
        let printed = stdout(&output);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(printed.starts_with("U0MAYA: forgotten in T0CIRCLE; their insights now show as member-"), "{printed}");
        assert!(printed.contains("votes deleted: 1"), "{printed}");
        assert!(printed.contains("names deleted: 1"), "{printed}");
        let left = traces::find(&handle, &[MAYA, "Maya Kowalska", "Velvet lipstick shades fade by noon"]).await;
        assert!(left.is_empty(), "{left:#?}");

        // Exports show the pseudonym as her insights' author, and no id.
        let pseudonym = printed.split("show as ").nth(1).unwrap().split('.').next().unwrap().to_owned();
        let export = stdout(&circlet(&["export", "--format", "jsonl"], &env));
        let hers: Vec<serde_json::Value> = export
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .filter(|row: &serde_json::Value| row["text"] == REMOVED_TEXT)
            .collect();
        assert_eq!(hers.len(), 2, "{export}");
        for row in hers {
            assert_eq!((row["author_id"].as_str(), row["author_name"].as_str()), (Some(""), Some(pseudonym.as_str())));
        }

        let again = circlet(&["forget", MAYA], &env);
        assert_eq!(stdout(&again), "U0MAYA: Circlet holds nothing about them in any workspace.\n");
        let again = circlet(&["forget", MAYA, "--team", "T0CIRCLE"], &env);
        assert_eq!(stdout(&again), "U0MAYA: already forgotten in T0CIRCLE; nothing more is held about them.\n");
        let nobody = circlet(&["forget", "U0NOBODY", "--team", "T0CIRCLE"], &env);
        assert_eq!(stdout(&nobody), "U0NOBODY: Circlet holds nothing about them in T0CIRCLE.\n");
    }
}

on_both_backends! {
    async fn a_member_known_in_several_workspaces_needs_team(db: TestDb) {
        let handle = db.handle();
        let url = db.url.clone();
        let app = app(db).await;
        history(&app).await;
        handle
            .execute(&["INSERT INTO people (team_id, user_id, name, updated_at) VALUES ('T0OTHER', 'U0OMAR', 'Omar', 1)".to_owned()])
            .await;
        let env = [("DATABASE_URL", url.as_str())];
        let output = circlet(&["forget", OMAR], &env);
        assert!(!output.status.success());
        assert!(stderr(&output).contains("T0CIRCLE, T0OTHER"), "{}", stderr(&output));
        assert!(stderr(&output).contains("--team"), "{}", stderr(&output));
        let output = circlet(&["forget", OMAR, "--team", "T0OTHER"], &env);
        assert!(stdout(&output).contains("forgotten in T0OTHER"), "{}", stdout(&output));
        let bad = circlet(&["forget", "nobody"], &env);
        assert!(!bad.status.success());
    }
}
