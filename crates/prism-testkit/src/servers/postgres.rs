//! PostgreSQL (`initdb` and `postgres` from the postgresql package).

use std::{ffi::OsString, os::unix::fs::PermissionsExt, path::Path, process::Command};

use super::{
    Launch, POSTGRES_USER, ServerError, TestServer, find, postgres_bin_dirs, root, run_as, setup, system_user,
};
use crate::datadir::DataDir;
use crate::ports::free_port;

impl TestServer {
    /// A PostgreSQL server whose superuser `user` logs in over TCP with `password` (SCRAM).
    pub async fn postgres(user: &str, password: &str) -> Result<Self, ServerError> {
        let versions = postgres_bin_dirs();
        let initdb = find("initdb", "postgresql", &versions)?;
        let program = find("postgres", "postgresql", &versions)?;
        let dir = DataDir::create(&root(), false)?;
        let pg = dir.subdir("pg")?;
        let as_root = rustix::process::geteuid().is_root();
        let pwfile = pg.join("pwfile");
        std::fs::write(&pwfile, password).map_err(setup("write the password file"))?;
        if as_root {
            // The postgres user must reach its directory: traverse-only on ours, its own below.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))
                .map_err(setup("open the data directory"))?;
            let (uid, gid) = system_user(POSTGRES_USER)?;
            for p in [&pg, &pwfile] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).map_err(setup("chown to postgres"))?;
            }
        }
        let data = pg.join("data");
        let initdb_args: Vec<OsString> = vec![
            "-D".into(),
            data.clone().into(),
            "-U".into(),
            user.into(),
            "--auth-host=scram-sha-256".into(),
            "--auth-local=trust".into(),
            "--pwfile".into(),
            pwfile.clone().into(),
            "--no-sync".into(),
        ];
        let (prog, args) = run_as(as_root, &initdb, initdb_args);
        let pg_for_initdb = pg.clone();
        let output =
            tokio::task::spawn_blocking(move || Command::new(prog).args(args).current_dir(pg_for_initdb).output())
                .await
                .map_err(|e| ServerError::Setup { what: "run initdb".into(), message: e.to_string() })?
                .map_err(setup("run initdb"))?;
        if !output.status.success() {
            return Err(ServerError::Setup {
                what: "initialise the database".into(),
                message: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        let port = free_port()?;
        let server_args: Vec<OsString> = vec![
            "-D".into(),
            data.into(),
            "-p".into(),
            port.to_string().into(),
            "-k".into(),
            pg.clone().into(),
            "-c".into(),
            "listen_addresses=127.0.0.1".into(),
            "-c".into(),
            "fsync=off".into(),
        ];
        let (prog, args) = if as_root {
            // setpriv (outer, from the spawner) -> switch user -> set the death signal again.
            let mut inner = vec!["--pdeathsig".into(), "KILL".into(), "--".into(), program.into()];
            inner.extend(server_args);
            run_as(true, Path::new("setpriv"), inner)
        } else {
            (program, server_args)
        };
        Self::launch(Launch::new("postgres", port, prog, args, pg), dir).await
    }
}
