//! What the key table records of each configuration key: its dotted name, its type, its doc
//! (the template comment and the flag's help), the command-line flag that sets it, the
//! environment variable that sets it, and whether run directories persist it. The rows are
//! declared with the sections ([`super::sections`]); [`super::table`] looks them up.

/// The type of a key's value, as a flag parses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A non-negative integer.
    Integer,
    /// A floating-point number.
    Float,
    /// `true` or `false`.
    Bool,
    /// Free text.
    Text,
    /// One of these names.
    Choice(&'static [&'static str]),
}

/// How a flag sets its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    /// `--name VALUE`.
    Value(&'static str),
    /// `--name` alone sets the key to this value.
    Switch(&'static str, bool),
    /// `--on` sets true, `--off` sets false; they conflict.
    Toggle(&'static str, &'static str),
    /// `--name [true|false]`; `--name` alone means true.
    OptionalBool(&'static str),
}

impl Flag {
    /// Every long flag it defines (with `--`).
    pub fn names(&self) -> Vec<&'static str> {
        match *self {
            Flag::Value(f) | Flag::Switch(f, _) | Flag::OptionalBool(f) => vec![f],
            Flag::Toggle(on, off) => vec![on, off],
        }
    }
}

/// Which commands take a key's flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The root `ptycho` (global: before or after the subcommand).
    Global,
    /// `train` and `config show`.
    Training,
    /// `train`, `config show` and `infer` (stitching and product settings).
    Inference,
    /// `train`, `config show` and `infer` (execution knobs).
    Execution,
}

/// A key's flag, the commands that take it, and the flags it conflicts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagSpec {
    /// The flag.
    pub flag: Flag,
    /// Which commands take it.
    pub scope: Scope,
    /// Long flags (with `--`) it cannot be given with.
    pub conflicts: &'static [&'static str],
}

/// Where a key may be set besides the file, and whether run directories keep it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Its command-line flag.
    pub flag: Option<FlagSpec>,
    /// Its environment variable.
    pub env: Option<&'static str>,
    /// Written to a run's config.toml (false for per-invocation settings such as simulated
    /// faults, binding caps and kernel layouts, which belong to the machine, not the model).
    pub persist: bool,
}

impl Meta {
    /// Settable in the file only.
    pub const FILE: Meta = Meta {
        flag: None,
        env: None,
        persist: true,
    };

    /// `--name VALUE` for the commands of `scope`.
    pub const fn value(name: &'static str, scope: Scope) -> Meta {
        Self::with(Flag::Value(name), scope)
    }

    /// A flag of another form for the commands of `scope`.
    pub const fn with(flag: Flag, scope: Scope) -> Meta {
        Meta {
            flag: Some(FlagSpec {
                flag,
                scope,
                conflicts: &[],
            }),
            env: None,
            persist: true,
        }
    }

    /// The same, conflicting with `flags`.
    pub const fn conflicts(self, flags: &'static [&'static str]) -> Meta {
        match self.flag {
            Some(f) => Meta {
                flag: Some(FlagSpec {
                    conflicts: flags,
                    ..f
                }),
                ..self
            },
            None => self,
        }
    }

    /// Also (or only) set by the environment variable `var`.
    pub const fn env(self, var: &'static str) -> Meta {
        Meta {
            env: Some(var),
            ..self
        }
    }

    /// Not written to run directories.
    pub const fn runtime(self) -> Meta {
        Meta {
            persist: false,
            ..self
        }
    }
}

/// One configuration key.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    /// Dotted name, `section.field`.
    pub key: &'static str,
    /// Its doc comment as written (lines joined).
    pub doc_raw: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Flag, environment variable, persistence.
    pub meta: Meta,
}

impl Key {
    /// The doc text (template comment, flag help).
    pub fn doc(&self) -> String {
        self.doc_raw
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The [`Kind`] of a field type.
pub trait ConfigValue {
    /// Its kind.
    const KIND: Kind;
}

macro_rules! kinds {
    ($($t:ty => $k:expr),* $(,)?) => { $(impl ConfigValue for $t { const KIND: Kind = $k; })* };
}
kinds!(usize => Kind::Integer, u32 => Kind::Integer, u64 => Kind::Integer, f64 => Kind::Float,
    bool => Kind::Bool, String => Kind::Text);

impl ConfigValue for crate::gpu::Accelerator {
    const KIND: Kind = Kind::Choice(&["auto", "vulkan", "metal", "dx12", "gl", "cpu"]);
}

impl ConfigValue for crate::gpu::LimitsProfile {
    const KIND: Kind = Kind::Choice(&["adapter", "webgpu"]);
}

impl ConfigValue for crate::stitch::PatchWeighting {
    const KIND: Kind = Kind::Choice(&["uniform", "probe"]);
}

impl ConfigValue for crate::nn::ConvLayoutChoice {
    const KIND: Kind = Kind::Choice(&["auto", "tiled", "subgroup"]);
}
