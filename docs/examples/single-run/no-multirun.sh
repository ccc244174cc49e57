python app.py x=2
python app.py x=2
ls
python app.py -m x=2
python app.py -m x=2
