//! Where documents come from: files and directories (with Kustomize directories and
//! Helm charts rendered by their tools), dotenv files, and git history.
pub(crate) mod dotenv;
pub(crate) mod git;
pub(crate) mod render;
pub(crate) mod walk;
