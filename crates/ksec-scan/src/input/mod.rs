//! Where documents come from: files and directories (with Kustomize directories and
//! Helm charts rendered by their tools), dotenv files, and git history; the tools run
//! under a time limit and their error text is summarised, never copied.
pub(crate) mod dotenv;
pub(crate) mod git;
pub(crate) mod process;
pub(crate) mod render;
pub(crate) mod tool_error;
pub(crate) mod walk;
