//! Where the document and the secrets live: the [`Storage`] of the document,
//! the write target (file or keyring, decided once by the policy), staging
//! secrets into a keyring, resolving references, disposing of entries.

use super::*;

/// Where the store's document lives. [`Document`] implements it; tests
/// wrap it to inject failures.
pub trait Storage {
    /// Loads the document (`None` if it does not exist).
    ///
    /// # Errors
    /// Any load error (never "absent" for anything but a missing file).
    fn load(&self) -> std::result::Result<Option<Value>, gw_persist::Error>;
    /// Locked read-modify-write of the document; `f` refuses with a gw-cred
    /// error, returned as it is (and then nothing is written).
    ///
    /// # Errors
    /// Lock, load, save errors (as [`ErrorKind::Doc`] or [`ErrorKind::Fs`]
    /// with the gw-persist error as their source), or the closure's.
    fn update(&self, f: &mut dyn FnMut(Option<Value>) -> Result<Value>) -> Result<Value>;
}

impl Storage for Document<'_> {
    fn load(&self) -> std::result::Result<Option<Value>, gw_persist::Error> {
        self.load_value()
    }
    fn update(&self, f: &mut dyn FnMut(Option<Value>) -> Result<Value>) -> Result<Value> {
        self.update_value(f)
    }
}

/// Where new secrets go, once decided.
#[derive(Debug, Clone)]
pub(crate) enum WriteTarget {
    File,
    Keyring(Arc<dyn Keyring>),
}

/// Refuses a reference outside gw's own keyring service: gw never reads or
/// deletes another program's entries, whatever the document says.
pub(super) fn check_own(r: &KeyringRef, op: &'static str) -> Result<()> {
    if r.service == KEYRING_SERVICE {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidInput,
        op,
        format!(
            "refused: the credential store names a keyring entry of the service `{}`, not gw's `{KEYRING_SERVICE}`; \
             gw only reads and deletes its own entries",
            r.service.escape_debug()
        ),
    ))
}

impl<S: Storage> CredStore<S> {
    /// The keyring new secrets go to under a keyring policy.
    pub(super) fn write_keyring(&self) -> Result<Arc<dyn Keyring>> {
        match &self.config.keyring {
            Some(k) => Ok(k.clone()),
            None => self.keyring_named(self.config.kind.as_str()),
        }
    }

    /// The keyring a reference names.
    pub(crate) fn keyring_named(&self, name: &str) -> Result<Arc<dyn Keyring>> {
        if let Some(k) = self.config.keyring.as_ref().filter(|k| k.name() == name) {
            return Ok(k.clone());
        }
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = opened.iter().find(|k| k.name() == name) {
            return Ok(k.clone());
        }
        let kind = KeyringKind::parse(name).map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                "open keyring",
                format!("the credential store refers to the keyring `{}`, which gw does not know", name.escape_debug()),
            )
        })?;
        let k: Arc<dyn Keyring> = Arc::new(SystemKeyring::new(kind, self.config.call_timeout()));
        opened.push(k.clone());
        Ok(k)
    }

    /// Decides where this store writes secrets, as its policy says, and
    /// tells the caller through the notice callback when `keyring-or-file`
    /// falls back to the file. Decided once per store; every write calls it
    /// before anything is written, and a caller may call it first itself
    /// (the two-step form).
    ///
    /// # Errors
    /// [`ErrorKind::FallbackRefused`] under the `keyring` policy when the
    /// keyring is unavailable (nothing is written, anywhere).
    ///
    /// # Security
    /// THREATS CRED-9 (no silent downgrade; told before anything is written).
    pub fn decide(&self) -> Result<Decision> {
        self.target()?;
        let (target, fallback) = self.decided.get().expect("decided by target()");
        Ok(match (target, fallback) {
            (WriteTarget::Keyring(k), _) => Decision::Keyring { keyring: k.name().to_owned() },
            (WriteTarget::File, None) => Decision::File,
            (WriteTarget::File, Some(reason)) => Decision::FileFallback {
                keyring: self
                    .config
                    .keyring
                    .as_ref()
                    .map(|k| k.name().to_owned())
                    .unwrap_or_else(|| self.config.kind.as_str().into()),
                reason: reason.clone(),
            },
        })
    }

    pub(crate) fn target(&self) -> Result<WriteTarget> {
        if let Some((t, _)) = self.decided.get() {
            return Ok(t.clone());
        }
        let mut fallback = None;
        let t = match self.config.policy {
            StorePolicy::File => WriteTarget::File,
            StorePolicy::Keyring => {
                let k = self.write_keyring()?;
                match k.probe() {
                    Ok(()) => WriteTarget::Keyring(k),
                    Err(e) => {
                        return Err(Error::new(
                            ErrorKind::FallbackRefused,
                            "store credential",
                            format!(
                                "{}; the `keyring` store policy does not fall back to the file: nothing was \
                                 written",
                                e.message()
                            ),
                        )
                        .about(k.name())
                        .with_fix(e.fix().map(str::to_owned).unwrap_or_else(|| k.fix())));
                    }
                }
            }
            StorePolicy::KeyringOrFile => {
                let k = self.write_keyring()?;
                match k.probe() {
                    Ok(()) => WriteTarget::Keyring(k),
                    Err(e) => {
                        let reason = e.message().to_owned();
                        fallback = Some(reason.clone());
                        // Told before anything is written (CRED-9).
                        self.config.notify(&Notice::FallbackToFile { keyring: k.name().to_owned(), reason });
                        WriteTarget::File
                    }
                }
            }
        };
        Ok(self.decided.get_or_init(|| (t, fallback)).0.clone())
    }

    /// Puts `text` where the decided target says: inline (still wiped on
    /// drop), or into a new keyring entry (recorded in `created`).
    pub(crate) fn stage(
        &self,
        target: &WriteTarget,
        gateway: &str,
        slot: &Slot,
        text: &SecretText,
        created: &mut Vec<KeyringRef>,
    ) -> Result<Stored> {
        let WriteTarget::Keyring(k) = target else { return Ok(Stored::Inline(text.clone())) };
        let ns = self.config.namespace.as_deref().unwrap_or("store");
        let r = KeyringRef {
            keyring: k.name().to_owned(),
            service: KEYRING_SERVICE.to_owned(),
            account: format!("{ns}/{gateway}/{}/{}", slot.describe(), random_hex()?),
        };
        let label = format!("gw credential: {} for {gateway} (profile {ns})", slot.describe());
        k.set(&r.service, &r.account, &label, text.as_bytes()).map_err(|e| {
            let msg = format!("{}; nothing was written to the credential file", e.message());
            Error::new(e.kind(), e.op(), msg).about(slot.describe()).with_fix(e.fix().unwrap_or(&k.fix()).to_owned())
        })?;
        created.push(r.clone());
        Ok(Stored::Keyring(r))
    }

    /// Stages every `(slot, text)`; on a failure, the entries already made
    /// are deleted again.
    pub(super) fn stage_all(
        &self,
        target: &WriteTarget,
        gateway: &str,
        items: &[(Slot, SecretText)],
    ) -> Result<(Vec<Stored>, Vec<KeyringRef>)> {
        let mut created = Vec::new();
        let mut out = Vec::with_capacity(items.len());
        for (slot, text) in items {
            match self.stage(target, gateway, slot, text, &mut created) {
                Ok(v) => out.push(v),
                Err(e) => {
                    self.dispose(created);
                    return Err(e);
                }
            }
        }
        Ok((out, created))
    }

    /// The secret a stored value stands for: inline, or read from its
    /// keyring.
    ///
    /// # Errors
    /// [`ErrorKind::KeyringUnavailable`], [`ErrorKind::KeyringEntryMissing`],
    /// a reference outside gw's keyring service.
    pub(crate) fn reveal(&self, v: &Stored) -> Result<Secret> {
        const OP: &str = "read credential";
        let r = match v {
            Stored::Inline(t) => return Ok(Secret::from(String::clone(t))),
            Stored::Keyring(r) => r,
        };
        check_own(r, OP)?;
        let k = self.keyring_named(&r.keyring)?;
        match k.get(&r.service, &r.account)? {
            Some(bytes) => Ok(Secret::new(bytes.to_vec())),
            None => Err(Error::new(
                ErrorKind::KeyringEntryMissing,
                OP,
                format!(
                    "the credential store refers to the keyring entry {}, which {} does not hold{}",
                    r.describe(),
                    k.describe(),
                    if r.keyring == KeyringKind::Keyutils.as_str() {
                        " (keyutils entries do not survive a reboot or the expiry of the persistent keyring)"
                    } else {
                        ""
                    }
                ),
            )
            .with_fix("store the credential again with `gw cred set`, or remove the reference with `gw cred rm`")),
        }
    }

    /// Deletes the keyring entries in `refs` that the stored document does
    /// not name (any more). Failures are reported as notices: the document
    /// is already right, only a secret is left in the keyring.
    pub(crate) fn dispose(&self, refs: Vec<KeyringRef>) {
        if refs.is_empty() {
            return;
        }
        let named: Vec<KeyringRef> = match self.load_doc() {
            Ok(doc) => doc.refs().cloned().collect(),
            Err(e) => {
                for entry in refs {
                    let reason = format!("the credential store could not be read to check it: {}", e.message());
                    self.config.notify(&Notice::EntryLeft { entry, reason });
                }
                return;
            }
        };
        for entry in refs {
            if named.contains(&entry) {
                continue;
            }
            let res = check_own(&entry, "delete keyring entry")
                .and_then(|()| self.keyring_named(&entry.keyring))
                .and_then(|k| k.delete(&entry.service, &entry.account));
            if let Err(e) = res {
                self.config.notify(&Notice::EntryLeft { entry, reason: e.message().to_owned() });
            }
        }
    }
}
