//! Real kresd (filled in below).
