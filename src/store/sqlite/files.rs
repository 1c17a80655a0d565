//! File modes of the embedded store: the database and its `-wal`/`-shm` are the user's
//! alone (0600), the folder made for them too (0700). SQLite gives the `-wal` and `-shm`
//! files the database file's mode, so creating that file 0600 first covers them.
//! Public as `store::embedded_files`: startup writes the generated secret file with them.

use std::path::Path;

/// Creates `dir` (and its missing parents) with mode 0700.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Options that write a file the user alone may read when they create it (0600).
pub fn file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates the database file 0600 when it is missing (SQLite then gives its `-wal`
/// and `-shm` files the same mode). An existing file keeps its mode: a database the
/// user named may be shared on purpose (see [`tighten_store`] for the default one).
pub fn create_file(db: &Path) -> std::io::Result<()> {
    drop(file_options().create(true).truncate(false).open(db)?);
    Ok(())
}

/// Tightens the embedded default store, its `-wal` and `-shm` files (0600) and its
/// folder (0700) where they are open to the group or others (logged): it is this
/// server's alone.
pub fn tighten_store(db: &Path) -> std::io::Result<()> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        tighten(dir, 0o700)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        tighten(Path::new(&name), 0o600)?;
    }
    Ok(())
}

/// Removes the group's and others' access to `path` when it exists and has some.
#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let was = meta.permissions().mode() & 0o777;
    if was & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        tracing::warn!(
            path = %path.display(),
            was = format!("{was:o}"),
            now = format!("{mode:o}"),
            "the embedded store was readable by other users: its mode is tightened"
        );
    }
    Ok(())
}

/// On Windows a file in the user's profile is private to the user by its ACL.
#[cfg(not(unix))]
fn tighten(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}
