"""Flask glue: one blueprint package per area; views turn domain results into responses."""
