"""Station policies: what a door or gate decides, pure, from its parts and its bundle."""
