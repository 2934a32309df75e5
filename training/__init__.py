"""Training the colorizer: data, losses, the GAN loop, export to TorchScript, evaluation."""
