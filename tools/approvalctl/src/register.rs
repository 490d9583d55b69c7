//! `register`: create or update the external approval definition (`feishu-api.md` §3).
//!
//! Feishu resets every field an update leaves out, so the full definition is sent every time:
//! every text behind an `@i18n@` key in the default locale, PC and mobile support, and the
//! callback URL with the token and key from the app credentials. Feishu matches on the custom
//! code and answers with its own code, which every instance push must use.

use feishu_bridge::models::CallbackEndpoint;
use feishu_bridge::models::definition::{ExternalApproval, ExternalSettings, Viewer, ViewerType};
use feishu_bridge::models::i18n::{I18nResource, I18nText};
use feishu_bridge::secrets::Credentials;
use serde::Serialize;

use crate::cli::RegisterArgs;
use crate::error::CliError;
use crate::feishu::{Feishu, deadline};

/// i18n key of the definition name.
const NAME_KEY: &str = "@i18n@approval_name";
/// i18n key of the group name.
const GROUP_NAME_KEY: &str = "@i18n@group_name";
/// i18n key of the description.
const DESCRIPTION_KEY: &str = "@i18n@description";
/// i18n key of the "来自 …" source label.
const BIZ_NAME_KEY: &str = "@i18n@biz_name";

/// The outcome of a registration, as printed.
#[derive(Debug, Serialize)]
struct Registered<'a> {
    /// The custom code: the upsert key for later `register` runs.
    custom_approval_code: &'a str,
    /// Feishu's code: `approval_code` of every instance push.
    approval_code: &'a str,
    /// Where Feishu posts quick-approval callbacks.
    callback_url: &'a str,
    /// Whether callbacks arrive encrypted (a callback key is configured).
    callbacks_encrypted: bool,
}

/// Runs `register`.
pub async fn run(args: &RegisterArgs) -> Result<(), CliError> {
    let feishu = Feishu::connect(&args.feishu).await?;
    let approval = definition(args, &feishu.credentials);
    let approval_code = feishu
        .client
        .create_approval(&approval, deadline())
        .await
        .map_err(|source| CliError::Feishu {
            action: "registering the approval definition",
            source,
        })?;
    let registered = Registered {
        custom_approval_code: &args.approval_code,
        approval_code: &approval_code,
        callback_url: &args.callback_url,
        callbacks_encrypted: feishu.credentials.callback_key.is_some(),
    };
    if args.json {
        let json =
            serde_json::to_string(&registered).map_err(|_| CliError::Encode("JSON output"))?;
        println!("{json}");
    } else {
        print!("{}", render(&args.name, &registered));
    }
    Ok(())
}

/// The full definition for `args`, with the callback secrets from `credentials`.
fn definition(args: &RegisterArgs, credentials: &Credentials) -> ExternalApproval {
    let mut texts = I18nResource::new(args.locale.clone(), true).with_text(NAME_KEY, &args.name);
    let mut keyed = |key: &str, text: &Option<String>| {
        let text = text.as_ref()?;
        texts.texts.push(I18nText {
            key: key.to_owned(),
            value: text.clone(),
        });
        Some(key.to_owned())
    };
    let group_name = keyed(GROUP_NAME_KEY, &args.group_name);
    let description = keyed(DESCRIPTION_KEY, &args.description);
    let biz_name = keyed(BIZ_NAME_KEY, &args.biz_name);
    let viewers = if args.viewer_tenant {
        vec![Viewer {
            viewer_type: Some(ViewerType::Tenant),
            ..Viewer::default()
        }]
    } else {
        Vec::new()
    };
    ExternalApproval {
        approval_name: NAME_KEY.to_owned(),
        approval_code: args.approval_code.clone(),
        group_code: args.group_code.clone(),
        group_name,
        description,
        external: ExternalSettings {
            biz_name,
            create_link_pc: args.create_link_pc.clone(),
            create_link_mobile: args.create_link_mobile.clone(),
            support_pc: Some(true),
            support_mobile: Some(true),
            callback: CallbackEndpoint::new(
                args.callback_url.as_str(),
                &credentials.callback_token,
                credentials.callback_key.as_ref(),
            ),
            ..ExternalSettings::default()
        },
        viewers,
        i18n_resources: vec![texts],
        managers: Vec::new(),
    }
}

/// The human-readable report of a registration.
fn render(name: &str, registered: &Registered<'_>) -> String {
    let encryption = if registered.callbacks_encrypted {
        "encrypted with FEISHU_CALLBACK_KEY"
    } else {
        "plaintext: no callback key configured"
    };
    format!(
        "Registered external approval definition {name:?}.\n\
         \n\
         custom code:   {custom}\n\
         \x20              the upsert key: pass it to `approvalctl register` again to update this definition\n\
         approval code: {code}\n\
         \x20              Feishu's code: use it as `approval_code` in every instance push (the custom code gives 1390002)\n\
         callbacks:     {url} ({encryption})\n",
        custom = registered.custom_approval_code,
        code = registered.approval_code,
        url = registered.callback_url,
    )
}

#[cfg(test)]
mod tests {
    use feishu_bridge::models::i18n::Locale;

    use super::*;
    use crate::cli::Command;
    use crate::test_support::{self, credentials};

    fn args(extra: &[&str]) -> RegisterArgs {
        let base = [
            "register",
            "--approval-code",
            "PURCHASE_V1",
            "--name",
            "采购申请",
            "--callback-url",
            "https://cb.example.com/feishu",
        ];
        match test_support::command(base.into_iter().chain(extra.iter().copied())) {
            Command::Register(args) => args,
            other => panic!("register expected, got {other:?}"),
        }
    }

    #[test]
    fn every_text_is_an_i18n_key_with_its_text_in_the_default_locale() {
        let approval = definition(
            &args(&[
                "--group-code",
                "PROCUREMENT",
                "--group-name",
                "采购",
                "--description",
                "Purchase requests",
                "--biz-name",
                "ERP",
                "--locale",
                "en-US",
            ]),
            &credentials(None),
        );
        assert_eq!(approval.approval_code, "PURCHASE_V1");
        assert_eq!(approval.group_code.as_deref(), Some("PROCUREMENT"));
        let [resource] = approval.i18n_resources.as_slice() else {
            panic!("one locale expected");
        };
        assert!(resource.is_default);
        assert_eq!(resource.locale, Locale::EnUs);
        for (key, text) in [
            (Some(approval.approval_name.as_str()), "采购申请"),
            (approval.group_name.as_deref(), "采购"),
            (approval.description.as_deref(), "Purchase requests"),
            (approval.external.biz_name.as_deref(), "ERP"),
        ] {
            let key = key.expect("field is set");
            assert!(key.starts_with("@i18n@") && key.len() >= 9, "{key}");
            assert_eq!(resource.text(key), Some(text));
        }
        let json = serde_json::to_value(&approval).unwrap();
        assert!(json["i18n_resources"][0]["texts"].is_array());
    }

    #[test]
    fn the_full_definition_is_sent_with_the_callback_secrets() {
        let approval = definition(
            &args(&[
                "--create-link-pc",
                "https://erp.example.com/new",
                "--viewer-tenant",
            ]),
            &credentials(Some("cb-key")),
        );
        let external = &approval.external;
        assert_eq!(external.support_pc, Some(true));
        assert_eq!(external.support_mobile, Some(true));
        assert_eq!(
            external.callback.action_callback_url.as_deref(),
            Some("https://cb.example.com/feishu")
        );
        assert_eq!(
            external.callback.action_callback_token.as_deref(),
            Some("cb-token")
        );
        assert_eq!(
            external.callback.action_callback_key.as_deref(),
            Some("cb-key")
        );
        assert_eq!(
            external.create_link_pc.as_deref(),
            Some("https://erp.example.com/new")
        );
        assert_eq!(external.create_link_mobile, None);
        assert_eq!(approval.viewers.len(), 1);
        assert_eq!(approval.viewers[0].viewer_type, Some(ViewerType::Tenant));
        // Without a group, description or source label, no key is left dangling.
        assert_eq!(approval.group_name, None);
        assert_eq!(approval.i18n_resources[0].texts.len(), 1);
    }

    #[test]
    fn without_a_callback_key_callbacks_stay_plaintext() {
        let approval = definition(&args(&[]), &credentials(None));
        assert_eq!(approval.external.callback.action_callback_key, None);
        assert!(approval.viewers.is_empty());
    }

    #[test]
    fn the_report_names_both_codes_and_what_each_is_for() {
        let text = render(
            "采购申请",
            &Registered {
                custom_approval_code: "PURCHASE_V1",
                approval_code: "C30381C8-0000",
                callback_url: "https://cb.example.com/feishu",
                callbacks_encrypted: true,
            },
        );
        assert!(text.contains("custom code:   PURCHASE_V1"), "{text}");
        assert!(text.contains("approval code: C30381C8-0000"), "{text}");
        assert!(text.contains("every instance push"), "{text}");
        assert!(text.contains("encrypted"), "{text}");
    }
}
