//! Owns what happens on ban and unban: the per-jail Actions manager, command
//! actions from action.d, and the built-in XDP action.
