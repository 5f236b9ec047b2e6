//! Who may forget a member: product users and admins, through a confirmation that only its
//! requester can use; a customer's command, replayed click or forged button forgets nothing.

use crate::forget::{MAYA, OMAR, PM, app, ask_to_forget, click_forget, history};
use crate::helpers::circle::{CIRCLE, captured, feedback};
use crate::on_both_backends;

const CUSTOMER: &str = "U0CUSTOMER";
const REFUSAL: &str = "Sorry, only the product team and workspace admins can forget a member.";

async fn maya_is_remembered(app: &crate::helpers::TestApp) -> bool {
    captured(app, CIRCLE, "1700000100.000100")
        .await
        .unwrap()
        .insight
        .author_id
        .is_some()
}

on_both_backends! {
    async fn a_customer_cannot_forget_anyone_and_gets_a_polite_refusal(db: TestDb) {
        let app = app(db).await;
        history(&app).await;
        assert_eq!(feedback(&app, CUSTOMER, &format!("forget <@{MAYA}>")).await, REFUSAL);
        assert!(maya_is_remembered(&app).await);
    }
}

on_both_backends! {
    async fn a_confirmation_replayed_or_forged_by_a_customer_forgets_nothing(db: TestDb) {
        let app = app(db).await;
        history(&app).await;
        let (_, button) = ask_to_forget(&app, PM, MAYA).await;
        let button = button.expect("a Forget button for the product user");

        // The product user's own button, clicked (replayed) by a customer.
        assert_eq!(click_forget(&app, CUSTOMER, &button).await, REFUSAL);
        // A customer's edit of it: another member, or a made-up confirmation.
        let retargeted = button.replace(MAYA, OMAR);
        assert_eq!(click_forget(&app, PM, &retargeted).await, REFUSAL);
        let made_up = format!("T0CIRCLE.{MAYA}.{CUSTOMER}.1700000000.{}", "0".repeat(64));
        assert_eq!(click_forget(&app, CUSTOMER, &made_up).await, REFUSAL);
        assert!(maya_is_remembered(&app).await);

        let answer = click_forget(&app, PM, &button).await;
        assert!(answer.starts_with("Forgot <@U0MAYA>"), "{answer}");
        assert!(!maya_is_remembered(&app).await);
        // Clicked again: harmless, and said so.
        let again = click_forget(&app, PM, &button).await;
        assert!(again.contains("already forgotten"), "{again}");
    }
}

on_both_backends! {
    async fn a_product_user_who_lost_their_rights_cannot_use_an_earlier_confirmation(db: TestDb) {
        let app = app(db).await;
        history(&app).await;
        let (_, button) = ask_to_forget(&app, PM, MAYA).await;
        // The product team is now someone else.
        let settings = app.store.workspaces();
        settings
            .change_setting(
                crate::helpers::ids::team("T0CIRCLE"),
                circlet::store::SettingChange::ProductUsers(Some(OMAR)),
                crate::helpers::ids::user(OMAR),
                3_000,
            )
            .await
            .unwrap();
        assert_eq!(click_forget(&app, PM, &button.unwrap()).await, REFUSAL);
        assert!(maya_is_remembered(&app).await);
    }
}
