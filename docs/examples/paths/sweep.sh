export PROJECT_ROOT=$PWD; python train.py -m lr=0.1,0.2 hydra/launcher=exca_inline hydra.launcher.cache_folder=cache
export PROJECT_ROOT=$PWD; python train.py -m lr=0.1,0.2 hydra/launcher=exca_inline hydra.launcher.cache_folder=cache
head logs/multiruns/*/1/checkpoints/last.ckpt
