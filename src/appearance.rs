//! The desktop's light or dark preference: the XDG settings portal's `color-scheme`
//! (`org.freedesktop.appearance`), read once and then followed live through its
//! `SettingChanged` signal, so that the window turns dark or light with the desktop.

use futures_util::StreamExt;
use zbus::zvariant::{OwnedValue, Value};

const PORTAL: &str = "org.freedesktop.portal.Desktop";
const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";
const SETTINGS: &str = "org.freedesktop.portal.Settings";
const NAMESPACE: &str = "org.freedesktop.appearance";
const KEY: &str = "color-scheme";

/// What the desktop prefers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorScheme {
    /// Nothing said: the window keeps egui's own choice.
    NoPreference,
    /// Dark.
    Dark,
    /// Light.
    Light,
}

impl ColorScheme {
    /// The portal's number for it (0 no preference, 1 dark, 2 light; anything else is none).
    pub fn from_portal(value: u32) -> Self {
        match value {
            1 => Self::Dark,
            2 => Self::Light,
            _ => Self::NoPreference,
        }
    }

    /// The window's theme preference for it.
    pub fn theme_preference(self) -> egui::ThemePreference {
        match self {
            Self::NoPreference => egui::ThemePreference::System,
            Self::Dark => egui::ThemePreference::Dark,
            Self::Light => egui::ThemePreference::Light,
        }
    }

    /// The scheme a portal value stands for; `Read` (older portals) wraps it in one more
    /// variant than `ReadOne`.
    fn from_value(value: &Value<'_>) -> Option<Self> {
        match value {
            Value::U32(n) => Some(Self::from_portal(*n)),
            Value::Value(inner) => Self::from_value(inner),
            _ => None,
        }
    }
}

/// Calls `changed` with the desktop's scheme now and on every change, until the session bus
/// goes away. Returns at once (with the reason) where there is no bus or no settings portal:
/// the window then keeps egui's own choice.
pub async fn follow(changed: impl Fn(ColorScheme)) -> Result<(), String> {
    let connection = zbus::Connection::session()
        .await
        .map_err(|e| format!("no session bus: {e}"))?;
    let proxy = zbus::Proxy::new(&connection, PORTAL, PORTAL_PATH, SETTINGS)
        .await
        .map_err(|e| format!("no settings portal: {e}"))?;
    // Subscribed before reading, so that a change in between is not lost.
    let mut changes = proxy
        .receive_signal("SettingChanged")
        .await
        .map_err(|e| format!("the settings portal cannot be followed: {e}"))?;
    let now = match proxy
        .call::<_, _, OwnedValue>("ReadOne", &(NAMESPACE, KEY))
        .await
    {
        Ok(value) => ColorScheme::from_value(&value),
        Err(_) => proxy
            .call::<_, _, OwnedValue>("Read", &(NAMESPACE, KEY))
            .await
            .map_err(|e| format!("the settings portal has no {KEY}: {e}"))
            .map(|value| ColorScheme::from_value(&value))?,
    };
    if let Some(scheme) = now {
        changed(scheme);
    }
    while let Some(message) = changes.next().await {
        let Ok((namespace, key, value)) =
            message.body().deserialize::<(String, String, OwnedValue)>()
        else {
            continue;
        };
        if namespace == NAMESPACE
            && key == KEY
            && let Some(scheme) = ColorScheme::from_value(&value)
        {
            changed(scheme);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_values_map_to_schemes() {
        assert_eq!(ColorScheme::from_portal(1), ColorScheme::Dark);
        assert_eq!(ColorScheme::from_portal(2), ColorScheme::Light);
        assert_eq!(ColorScheme::from_portal(0), ColorScheme::NoPreference);
        assert_eq!(ColorScheme::from_portal(7), ColorScheme::NoPreference);
        let wrapped = Value::Value(Box::new(Value::U32(1)));
        assert_eq!(ColorScheme::from_value(&wrapped), Some(ColorScheme::Dark));
        assert_eq!(ColorScheme::from_value(&Value::from("dark")), None);
    }
}
