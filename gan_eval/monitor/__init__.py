"""Training-loop monitoring: gradient norms, discriminator outputs, periodic metrics, alarms and plots."""
