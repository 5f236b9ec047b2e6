//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the folders, and cargo does not
//! notice a new file in them by itself.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
