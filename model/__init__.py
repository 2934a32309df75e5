"""The maths that training and serving share: Lab colour, the networks, and the Colorizer."""
