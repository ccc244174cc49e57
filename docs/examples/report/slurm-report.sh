python sweep.py -m hydra/launcher=exca_slurm hydra.launcher.cache_folder=cache hydra.sweep.dir=multirun/demo x=1,2,3 lr=0.1,0.01 sleep=2  # fails: x=3 raises
python sweep.py -m hydra/launcher=exca_slurm hydra.launcher.cache_folder=cache hydra.sweep.dir=multirun/again x=1,2,3 lr=0.1,0.01 sleep=2  # fails: the 2 failed jobs are not rerun
exca sweep multirun/again --html report.html
