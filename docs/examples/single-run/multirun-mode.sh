echo "  mode: MULTIRUN" >> config.yaml
python app.py x=2
python app.py x=2
python app.py hydra.mode=RUN x=3
