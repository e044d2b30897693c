//! Where orca keeps its state inside a repository and how it is configured:
//! the `.orca/` layout and the typed `.orca/config.toml`.

mod diagnostic;
mod duration;
mod layout;
mod load;
mod model;
pub mod schema;
mod template;
mod validate;

pub use diagnostic::{ConfigDiagnostic, InvalidConfig, Location};
pub use duration::{DisplayDuration, DurationError, format_duration, parse_duration};
pub use layout::{Layout, LayoutError};
pub use load::ConfigError;
pub use model::{
    Adapter, AgentConfig, AnalyzeConfig, COMMAND_PLACEHOLDERS, CommandsConfig, Config,
    DEFAULT_ROLES, GATES, GatesConfig, LeaseConfig, LimitsConfig, OnBudget, PermissionMode,
    PlanConfig, Price, ReviewConfig, RoleRoute, RolesConfig, RunConfig, SEVERITIES, STAGE_ROLES,
    STORE_ENV, SecurityConfig, StoreConfig, StoreLocation,
};
pub use template::render_default_config;
