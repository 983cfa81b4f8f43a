//! Knot Resolver 6 configuration datamodel.
