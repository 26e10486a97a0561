//! Transactions: every change is one locked, atomic update of the document
//! (keyring entries written before, dropped ones deleted after), and the
//! generation guards of a connection.

use super::*;

impl<S: Storage> CredStore<S> {
    pub(crate) fn load_doc(&self) -> Result<StoreDoc> {
        Self::decode(self.storage.load()?)
    }

    /// One locked update of the record of `key`; `f` may refuse with an error,
    /// and then nothing is written. `f` collects the keyring references its
    /// change drops; they are deleted after the update. `created` are the
    /// entries staged for this update: deleted again if it fails.
    pub(super) fn update_record<T>(
        &self,
        key: &GatewayKey,
        created: Vec<KeyringRef>,
        mut f: impl FnMut(&mut GatewayRecord, &mut Vec<KeyringRef>) -> Result<T>,
    ) -> Result<T> {
        let mut out = None;
        let mut dropped = Vec::new();
        // The document as a JSON value holds every inline secret as a plain
        // string (serde_json's `Value` does not wipe itself): the value
        // written comes back here and is wiped; gw-persist wipes it if the
        // save fails, and wipes the bytes it read and wrote.
        let res = self.storage.update(&mut |cur| {
            dropped.clear();
            let mut doc = Self::decode(cur)?;
            // A format-1 store migrates here, on its first write: every entry
            // stays as it was (THREATS CRED-3: nothing stored is lost).
            doc.version = STORE_VERSION;
            let rec = doc.gateways.entry(key.as_str().to_owned()).or_default();
            let r = f(rec, &mut dropped)?;
            if rec.is_empty() && rec.generation == 0 {
                doc.gateways.remove(key.as_str());
            }
            out = Some(r);
            serde_json::to_value(&doc)
                .map_err(|e| Error::new(ErrorKind::InvalidInput, "save credentials", e.to_string()))
        });
        match res {
            Ok(mut written) => {
                gw_persist::zeroize_strings(&mut written);
                self.dispose(dropped);
                Ok(out.expect("the closure ran when the update succeeded"))
            }
            Err(e) => {
                // What this update staged is deleted unless the document
                // names it after all (a failure reported after the write).
                self.dispose(created);
                Err(save_refusal(e))
            }
        }
    }

    /// Starts a connection to `key`: increments the stored generation (a
    /// locked compare-and-swap across processes) and makes it the current one
    /// in this process. Writes tagged with an older generation are refused.
    ///
    /// # Errors
    /// Storage errors.
    ///
    /// # Security
    /// THREATS CRED-6 (stale generations).
    pub fn begin_connection(&self, key: &GatewayKey) -> Result<Generation> {
        self.generations.begin(key.as_str(), || {
            self.update_record(key, Vec::new(), |rec, _| {
                rec.generation += 1;
                Ok(rec.generation)
            })
        })
    }

    /// [`CredStore::set`] on behalf of the connection `gen`: refused if a
    /// newer connection began since, in this process or (by the stored
    /// generation) in another.
    ///
    /// # Errors
    /// [`ErrorKind::StaleGeneration`] (nothing written); as [`CredStore::set`].
    ///
    /// # Security
    /// THREATS CRED-6.
    pub fn set_in_generation(
        &self,
        key: &GatewayKey,
        generation: &Generation,
        slot: &Slot,
        secret: &Secret,
    ) -> Result<()> {
        check_slot(slot)?;
        let text = secret_text(secret)?;
        if generation.gateway() != key.as_str() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "set credential",
                format!("refused: the connection generation belongs to {}, not to this gateway", generation.gateway()),
            )
            .about(key));
        }
        let stale = |stored: u64| {
            Error::new(
                ErrorKind::StaleGeneration,
                "set credential",
                format!(
                    "refused: this connection is generation {} but generation {stored} is current; a stale client must not change credentials",
                    generation.value()
                ),
            )
            .about(key)
        };
        let target = self.target()?;
        self.generations.guard(generation, |current| {
            if current != generation.value() {
                return Err(stale(current));
            }
            if let WriteTarget::Keyring(_) = target {
                // A stale writer does not even reach the keyring (checked
                // again under the lock below).
                let stored = self.load_doc()?.gateways.get(key.as_str()).map_or(0, |r| r.generation);
                if stored != generation.value() {
                    return Err(stale(stored));
                }
            }
            let (values, created) = self.stage_all(&target, key.as_str(), &[(slot.clone(), text.clone())])?;
            let v = &values[0];
            self.update_record(key, created, |rec, dropped| {
                if rec.generation != generation.value() {
                    return Err(stale(rec.generation));
                }
                dropped.extend(put(rec, slot, v.clone()));
                Ok(())
            })
        })
    }
}
