//! Replacing the shared token: validated before it replaces the old one.

use super::*;

impl<S: Storage> CredStore<S> {
    /// Replaces the shared token of `key` with `new` after `validate` accepts
    /// it; device tokens are cleared in the same atomic update (they belonged
    /// to the old shared identity). A failed validation changes nothing.
    ///
    /// # Errors
    /// [`ErrorKind::ValidationFailed`] (nothing changed);
    /// [`ErrorKind::FallbackRefused`]; keyring and storage errors.
    ///
    /// # Security
    /// THREATS CRED-4 (validate before replace).
    pub fn replace_shared(
        &self,
        key: &GatewayKey,
        new: &Secret,
        validate: impl FnOnce(&Secret) -> std::result::Result<(), String>,
    ) -> Result<Vec<String>> {
        let text = secret_text(new)?;
        // Where it would go is decided (and a fallback told) first; a
        // refusal under the `keyring` policy does not send the token to the
        // validator.
        let target = self.target()?;
        validate(new).map_err(|why| {
            Error::new(
                ErrorKind::ValidationFailed,
                "replace shared",
                format!("the new shared token was not accepted: {why}; nothing was changed"),
            )
            .about(key)
        })?;
        let (values, created) = self.stage_all(&target, key.as_str(), &[(Slot::Shared, text)])?;
        let v = &values[0];
        self.update_record(key, created, |rec, dropped| {
            dropped.extend(put(rec, &Slot::Shared, v.clone()));
            let cleared = rec.roles();
            dropped.extend(rec.device.values().filter_map(Stored::keyring_ref).cloned());
            dropped
                .extend(rec.devices.values().flat_map(BTreeMap::values).filter_map(|i| i.token.keyring_ref()).cloned());
            rec.device.clear();
            rec.devices.clear();
            Ok(cleared)
        })
    }
}
