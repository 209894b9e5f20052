// `sqlx::migrate!` embeds the migrations at compile time; without this, a new or edited
// migration beside unchanged sources could leave a build with the old set (sqlx's advice).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
