//! Linked workspaces (ARCHITECTURE §9): a source workspace (a brand's community, say) linked to
//! a home workspace (the brand's own) counts in the home's reports, exports, API and digest,
//! where the home's product team triages it. Links are one level deep: a home is not itself
//! linked, and a linked workspace is no one's home, so "which workspaces does this report
//! cover" is always the home and its sources.

use crate::clock::Millis;
use crate::ids::TeamId;
use crate::store::{Installation, StoreError, WorkspaceStore};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0} is not an installed workspace (see `circlet workspaces list`)")]
    NotInstalled(String),
    #[error("a workspace cannot be linked to itself")]
    ToItself,
    #[error("{home} is itself linked to {its_home}: link {linked} to {its_home} instead")]
    HomeIsLinked {
        linked: String,
        home: String,
        its_home: String,
    },
    #[error("{team} is the home of {sources}: unlink those first")]
    SourceIsAHome { team: String, sources: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Links `source` to `home`; whether it changed anything.
pub async fn link(
    store: &dyn WorkspaceStore,
    source: &TeamId,
    home: &TeamId,
    now: Millis,
) -> Result<bool, LinkError> {
    if source == home {
        return Err(LinkError::ToItself);
    }
    let installations = store.installations().await?;
    let find = |team: &TeamId| {
        installations
            .iter()
            .find(|i| &i.team_id == team && i.is_active())
            .ok_or_else(|| LinkError::NotInstalled(team.as_str().to_owned()))
    };
    let (source_row, home_row) = (find(source)?, find(home)?);
    let sources = sources_of(&installations, source);
    if !sources.is_empty() {
        return Err(LinkError::SourceIsAHome {
            team: source.as_str().to_owned(),
            sources: sources.join(", "),
        });
    }
    if let Some(its_home) = &home_row.home_team_id {
        return Err(LinkError::HomeIsLinked {
            linked: source.as_str().to_owned(),
            home: home.as_str().to_owned(),
            its_home: its_home.as_str().to_owned(),
        });
    }
    if source_row.home_team_id.as_ref() == Some(home) {
        return Ok(false);
    }
    store.set_home(source, Some(home), now).await?;
    Ok(true)
}

/// Unlinks `source`; whether it was linked.
pub async fn unlink(store: &dyn WorkspaceStore, source: &TeamId, now: Millis) -> Result<bool, LinkError> {
    let installation = store
        .installation(source)
        .await?
        .ok_or_else(|| LinkError::NotInstalled(source.as_str().to_owned()))?;
    if installation.home_team_id.is_none() {
        return Ok(false);
    }
    store.set_home(source, None, now).await?;
    Ok(true)
}

/// `home` and the workspaces linked to it: what its reports, exports, API and digest cover.
pub async fn covered_by(store: &dyn WorkspaceStore, home: &TeamId) -> Result<Vec<TeamId>, StoreError> {
    let installations = store.installations().await?;
    let mut teams = vec![home.clone()];
    teams.extend(
        installations
            .iter()
            .filter(|i| i.is_active() && i.home_team_id.as_ref() == Some(home))
            .map(|i| i.team_id.clone()),
    );
    Ok(teams)
}

fn sources_of(installations: &[Installation], home: &TeamId) -> Vec<String> {
    installations
        .iter()
        .filter(|i| i.home_team_id.as_ref() == Some(home))
        .map(|i| i.team_id.as_str().to_owned())
        .collect()
}
