//! Writes the integrators' contract: the JSON Schemas under `schemas/` and their copies inlined in
//! `template.yaml`, generated from the Rust types. `--check` writes nothing and exits 1 when a
//! committed copy differs (the crate's tests make the same check).

use std::process::ExitCode;

use contract::{TEMPLATE, generate, template_copy, with_template_copy, workspace_root};

fn main() -> ExitCode {
    let check = std::env::args().skip(1).any(|arg| arg == "--check");
    let root = workspace_root();
    let template_path = root.join(TEMPLATE);
    let mut template = match std::fs::read_to_string(&template_path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("contract: cannot read {}: {error}", template_path.display());
            return ExitCode::FAILURE;
        }
    };
    let mut drifted = Vec::new();
    for file in generate() {
        let path = root.join(file.path);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(file.text.as_str()) {
            drifted.push(file.path.to_owned());
            if !check {
                if let Some(parent) = path.parent()
                    && let Err(error) = std::fs::create_dir_all(parent)
                {
                    eprintln!("contract: cannot create {}: {error}", parent.display());
                    return ExitCode::FAILURE;
                }
                if let Err(error) = std::fs::write(&path, &file.text) {
                    eprintln!("contract: cannot write {}: {error}", path.display());
                    return ExitCode::FAILURE;
                }
            }
        }
        if let Some(copy) = template_copy(&template, file.path)
            && copy != file.text
        {
            drifted.push(format!("{TEMPLATE} (copy of {})", file.path));
            if let Some(updated) = with_template_copy(&template, file.path, &file.text) {
                template = updated;
            }
        }
    }
    if !check
        && drifted.iter().any(|path| path.starts_with(TEMPLATE))
        && let Err(error) = std::fs::write(&template_path, &template)
    {
        eprintln!(
            "contract: cannot write {}: {error}",
            template_path.display()
        );
        return ExitCode::FAILURE;
    }
    for path in &drifted {
        println!("{} {path}", if check { "differs:" } else { "wrote" });
    }
    if check && !drifted.is_empty() {
        eprintln!("contract: run `cargo run -p contract` to regenerate");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
